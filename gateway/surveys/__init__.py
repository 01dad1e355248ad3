"""The survey pipeline: whom to survey, when, with which text, and how replies are read."""
