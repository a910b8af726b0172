"""A real Ray cluster on this machine for the tests: a head node, and worker nodes started from
other folders with other Python environments. Every port is a free one; every node runs in its
own process group (`ray start --block`) and is stopped by it, never with `ray stop`, which would
stop every Ray on the machine."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from conftest import tool_env

from dlnet.mlflow_server import free_port

LOOPBACK = "127.0.0.1"


class RayNode:
    """`ray start --block` from `python_bin`'s environment, in `cwd`; head when `address` is None."""

    def __init__(
        self,
        python_bin: Path,
        cwd: Path,
        *,
        address: str | None = None,
        num_cpus: int = 1,
        temp_dir: Path | None = None,
    ):
        self.ray = Path(python_bin) / "ray"
        self.cwd = Path(cwd)
        self.address = address
        self.port = free_port() if address is None else None
        self.num_cpus = num_cpus
        # Short: Ray's socket paths must fit in 107 characters.
        self.temp_dir = temp_dir or Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
        self.process: subprocess.Popen | None = None
        self.log = self.cwd / f"ray-{'head' if address is None else 'node'}-{os.getpid()}.log"

    def command(self) -> list[str]:
        ports = [
            "--node-manager-port",
            free_port(),
            "--object-manager-port",
            free_port(),
            "--dashboard-agent-listen-port",
            free_port(),
            "--dashboard-agent-grpc-port",
            free_port(),
            "--runtime-env-agent-port",
            free_port(),
            "--metrics-export-port",
            free_port(),
        ]
        common = [
            str(self.ray),
            "start",
            "--block",
            "--num-cpus",
            str(self.num_cpus),
            "--disable-usage-stats",
            "--node-ip-address",
            LOOPBACK,
            "--temp-dir",
            str(self.temp_dir),
            *map(str, ports),
        ]
        if self.address is None:
            return [
                *common,
                "--head",
                "--port",
                str(self.port),
                "--include-dashboard",
                "false",
                "--ray-client-server-port",
                str(free_port()),
            ]
        return [*common, "--address", self.address]

    @property
    def head_address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def start(self, env: dict[str, str], timeout: float = 120, attempts: int = 2) -> RayNode:
        """Start the node; once more if it timed out (Ray's raylet waits only 15 s for its agents)."""
        for attempt in range(attempts):
            try:
                return self._start(env, timeout)
            except AssertionError:
                self.stop()
                if attempt + 1 == attempts:
                    raise
        return self

    def _start(self, env: dict[str, str], timeout: float) -> RayNode:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"ray start exited {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            if "Ray runtime started" in self.log.read_text(errors="replace"):
                return self
            time.sleep(0.5)
        self.stop()
        raise AssertionError(f"ray start did not come up within {timeout:.0f} s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """The node dies at once (SIGKILL to its whole process group), as a machine that is lost."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None:
            return
        # `ray start --block` stops its processes one by one on SIGTERM (the cluster's teardown took
        # 33 s): a test's cluster is killed with its whole group once 10 s have passed.
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait)
                time.sleep(1)
                os.killpg(self.process.pid, signal.SIGKILL)  # workers that outlived `ray start`
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                pass
            break
        self.process = None


def ray_env(token_file: Path, **extra: str) -> dict[str, str]:
    """Token authentication on (as Ray 2.60 does by default), with the cluster's one token."""
    return tool_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_file), RAY_USAGE_STATS_ENABLED="0", **extra)


def make_token(folder: Path) -> Path:
    import secrets

    path = folder / "ray_auth_token"
    path.write_text(secrets.token_hex(32))
    path.chmod(0o600)
    return path
