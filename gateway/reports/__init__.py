"""Figures, rankings and reports: the numbers supervisors are shown, and what follows from them.

Pure domain code: periods in the configured time zone, figures and their formulas, the ranking
and its last-place rules, the comment reason classifier. The store it needs is
``store.ReportStore`` (SQL in ``storage.reports``); rendering lives in ``render_*``.
"""
