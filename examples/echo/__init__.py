"""Actors of the TCP echo example (examples/echo.yaml)."""
