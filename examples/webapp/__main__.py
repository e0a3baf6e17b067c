"""Serve the app with uvicorn; exit with status 1 if the supervision tree gives up.

    python -m webapp [--host 127.0.0.1] [--port 8000]

Running uvicorn from our own ``main`` (uvicorn's ``Config``/``Server`` API)
lets the give-up hook stop the server gracefully (``should_exit``: no new
connections, requests in flight finish) and lets ``main`` choose the exit
status: 1, which systemd's ``Restart=on-failure`` and Kubernetes both restart.
"""

from __future__ import annotations

import argparse
import socket
import sys

import structlog
import uvicorn

from .app import create_app

log = structlog.get_logger("examples.webapp")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webapp")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    args = parser.parse_args(argv)
    # The application configures logging; supervise only emits events.
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(),
        ]
    )

    gave_up: list[BaseException] = []

    def on_give_up(exc: BaseException) -> None:
        gave_up.append(exc)
        server.should_exit = True  # uvicorn stops gracefully on its next tick

    server = uvicorn.Server(uvicorn.Config(create_app(on_give_up), log_level="info"))
    # Bind here, so that the port is known (and logged) even when it is 0.
    sock = socket.create_server((args.host, args.port))
    host, port = sock.getsockname()[:2]
    log.info("webapp_listening", host=host, port=port)
    server.run(sockets=[sock])
    if gave_up:
        print(
            f"webapp: the supervision tree gave up ({gave_up[0]}); exiting with status 1 "
            f"so that systemd or Kubernetes starts a fresh process",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
