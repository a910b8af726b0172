"""`mlflow server` as a child process: started on 127.0.0.1, ready when `/health` answers, stopped
by its process group id. Standard library only. `make server` (dlnet.server) runs one on
PostgreSQL; the tests run their own on SQLite files.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

LOOPBACK = "127.0.0.1"


class MlflowServerError(RuntimeError):
    """The server exited or never answered `/health`; the message ends with its log's last lines."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the system picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def stop_group(process: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL after `grace` s, to the process group of a child started in a new session."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


def server_env() -> dict[str, str]:
    """The server's environment: no inherited tracking URI, no telemetry, no job runner.

    The job runner (a second process, for GenAI judges) is not needed to browse runs and
    makes the server four times slower to start on a small machine.
    """
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    return env


class MlflowServer:
    """`mlflow server` over `store_uri` on 127.0.0.1; a context manager that always stops it."""

    def __init__(
        self,
        store_uri: str,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        cwd: Path | None = None,
        startup_timeout: float = 90.0,
    ):
        self.store_uri = store_uri
        self.port = port or free_port()
        self.log_path = Path(log_path) if log_path else None
        self.cwd = Path(cwd) if cwd else None
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def store_options(self) -> list[str]:
        """Where the server keeps runs (and artifacts)."""
        return ["--backend-store-uri", self.store_uri]

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            *self.store_options(),
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]

    def environment(self) -> dict[str, str]:
        return server_env()

    def start(self) -> Any:
        if self.log_path:
            self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.command(),
            cwd=self.cwd,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends the server and its workers
        )
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise MlflowServerError(f"mlflow server exited with {self.process.returncode}{self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        tail = self._log_tail()
        self.stop()
        raise MlflowServerError(f"mlflow server gave no /health in {self.startup_timeout:.0f} s{tail}")

    def _log_tail(self) -> str:
        if not self.log_path or not self.log_path.is_file():
            return ""
        return "\n" + "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])

    def stop(self) -> None:
        """SIGTERM to the server's process group (the CLI and its uvicorn worker), SIGKILL after 15 s."""
        process, self.process = self.process, None
        if process is not None:
            stop_group(process, grace=15)
        if self._log:
            self._log.close()
            self._log = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
