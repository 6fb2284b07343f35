"""Run the real ``smartseg demo`` in a subprocess for the browser tests.

The browser tests drive the site exactly as a newcomer starts it (``smartseg demo``),
so they cover the command, uvicorn, the site, the middleware and the SQLite answer
bank together. Each server gets its own free localhost port, its own answer bank in a
temporary directory and a known secret key (so a test can read the visitor cookie and
look its answers up in the bank); it is stopped by process id when the test is done.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Signs the demo's cookies and CSRF tokens; the tests use it to decode the cookie.
TEST_SECRET_KEY = "browser-test-secret-key"
START_TIMEOUT = 30.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass
class DemoServer:
    """A running ``smartseg demo``; ``url("/blog")`` builds its addresses."""

    process: subprocess.Popen[bytes]
    port: int
    db_path: Path
    log_path: Path
    dev: bool
    secret_key: str = TEST_SECRET_KEY
    _stopped: bool = field(default=False, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def log(self) -> str:
        """What the server printed so far (for failure messages)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server (SIGINT first: uvicorn shuts down cleanly on it)."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def smartseg_command() -> list[str]:
    """The installed ``smartseg`` script of this interpreter's environment."""
    script = Path(sys.executable).with_name("smartseg")
    if script.is_file():
        return [str(script)]
    found = shutil.which("smartseg")
    if found:
        return [found]
    # An environment without console scripts: the same entry point, run by hand.
    return [sys.executable, "-c", "from smartseg_dsl.cli import main; main()"]


def die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM it when the test run dies, so
    an interrupted run (even ``kill -9``) leaves no demo server behind."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_demo(workdir: Path, *, dev: bool = False, attempts: int = 3) -> DemoServer:
    """Start ``smartseg demo --port P --db WORKDIR/demo.db --no-crm [--dev]`` and wait
    until its home page answers. Retries on another port if the chosen one was taken
    between picking it and binding it."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["SMARTSEG_SECRET_KEY"] = TEST_SECRET_KEY
    # fresh browser visitors must not land in the rules' 10 % holdout by chance
    env["SMARTSEG_HOLDOUT"] = "0"
    env["PYTHONUNBUFFERED"] = "1"
    problems: list[str] = []
    for attempt in range(attempts):
        port = free_port()
        db_path = workdir / "demo.db"
        log_path = workdir / f"demo-{port}.log"
        command = [*smartseg_command(), "demo", "--port", str(port), "--db", str(db_path)]
        command.append("--no-crm")
        if dev:
            command.append("--dev")
        with log_path.open("wb") as log:
            # cwd=workdir: nothing the demo writes can land in the checkout.
            process = subprocess.Popen(
                command,
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent if sys.platform == "linux" else None,
            )
        server = DemoServer(process, port, db_path, log_path, dev)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if _answers(server.url("/")):
                return server
            time.sleep(0.1)
        server.stop()
        problems.append(f"attempt {attempt + 1} (port {port}):\n{server.log()}")
        if "already in use" not in server.log():
            break
    raise RuntimeError("smartseg demo did not start:\n" + "\n".join(problems))
