"""The app for an ASGI server's own command line: ``uvicorn webapp.asgi:app``.

There the server owns the process, so the give-up hook asks it to stop as
Ctrl-C or ``kill`` would: SIGTERM. uvicorn stops gracefully and then ends the
process by that same signal (exit status 143, -15 for Python's subprocess).
Kubernetes restarts the pod either way; systemd counts an end by SIGTERM as
clean, so give the unit ``Restart=always`` (or serve from your own main, as
``python -m webapp`` does, to exit with status 1).
"""

from __future__ import annotations

import signal

from .app import create_app


def _stop_serving(exc: BaseException) -> None:
    signal.raise_signal(signal.SIGTERM)


app = create_app(on_give_up=_stop_serving)
