"""The Asterisk Manager Interface: framing, actions with deadlines, Originate tracking."""
