"""Actors of the escalation example (examples/escalation.yaml)."""
