"""Fakes of pingjing's peers that speak the real wire protocols (each has its own tests)."""
