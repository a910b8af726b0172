"""Start and stop `make server` / `python -m dlnet.server` for the tests, always by process group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from conftest import REPO, tool_env


def server_folder() -> Path:
    """A fresh folder PostgreSQL's unprivileged user can reach (pytest's tmp folders are closed to it)."""
    folder = Path(tempfile.mkdtemp(prefix="dlnet-server-"))
    folder.chmod(0o755)
    return folder


class ServerProcess:
    """The tracking server command, started in its own session; `url` once it printed its URI."""

    def __init__(self, folder: Path, *, via_make: bool = False, port: int = 0, db_port: int | None = None):
        extra = ["--dir", str(folder)] + (["--db-port", str(db_port)] if db_port else [])
        if via_make:
            self.command = ["make", "-s", "-C", str(REPO), "server", f"PORT={port}", f"ARGS={' '.join(extra)}"]
        else:
            self.command = [sys.executable, "-m", "dlnet.server", "--port", str(port), *extra]
        self.folder = folder
        self.process: subprocess.Popen | None = None
        self.output: list[str] = []
        self.url: str | None = None

    def start(self, timeout: float = 300) -> ServerProcess:
        self.process = subprocess.Popen(
            self.command,
            cwd=REPO,
            env=tool_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.url is None and self.process.poll() is None:
            time.sleep(0.2)
        if self.url is None:
            self.stop()
            raise AssertionError("the server never printed its URI:\n" + "".join(self.output))
        return self

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)
            if "export MLFLOW_TRACKING_URI=" in line:
                self.url = line.split("=", 1)[1].strip()

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C, as a terminal sends it: SIGINT to the whole process group; its exit status."""
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError("the server did not stop within a minute of Ctrl-C") from None
        time.sleep(0.5)  # the reader thread takes the last lines
        return self.process.returncode

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(self.process.pid, sig)
                    self.process.wait(timeout=40)
                    break
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    continue

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
