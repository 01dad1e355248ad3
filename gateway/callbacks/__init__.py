"""Voice callbacks, gateway side: when and how often a citizen is phoned back (``policy``,
``settings``), the service that does it through AMI (``scheduler``), and what supervisors read
(``export``). The SQL lives in ``storage/callback_store.py``; the conversation in ``ivr/``."""
