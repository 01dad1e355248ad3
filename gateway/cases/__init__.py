"""Supervision cases (督察): an unsatisfied evaluation verified, rectified, reviewed and closed."""
