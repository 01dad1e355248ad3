"""The supervisors' web console (评警督察工作台): server-rendered pages under ``/console``."""
