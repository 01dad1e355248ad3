"""People and what they may do: user accounts, roles and the one permission check."""
