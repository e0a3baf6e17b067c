"""``supervise logs``: read, filter and summarise a tree's JSON-lines logs.

A tool above the runtime: it depends on the event catalogue's names and the
log format only, never on the runtime (the runtime never imports it).
"""

from __future__ import annotations

from ._command import logs

__all__ = ["logs"]
