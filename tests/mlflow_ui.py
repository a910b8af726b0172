"""The MLflow UI, driven for real: a tracking server on loopback and Debian's Chromium via Playwright.

Test and documentation tooling (the UI tests and scripts/ui_screenshot.py), not part of dlnet.

- `MlflowServer` runs `mlflow server` over a store on a free 127.0.0.1 port, is ready when
  `/health` answers, and is stopped by its process group id; `api` calls its REST API.
- `chromium()` starts Debian's `chromium` (`executable_path`: Playwright downloads no browser)
  headless, with the flags a root user on a closed network needs; `open_page` opens an address
  in a fresh browser context (no stored state: what a new user sees).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

LOOPBACK = "127.0.0.1"
CHROMIUM = "/usr/bin/chromium"  # Debian's package; .ci/run installs it
# Root in a container (no sandbox), no GPU, a closed network: nothing that phones home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--mute-audio",
    "--hide-scrollbars",
]
VIEWPORT = (1600, 1000)
MISSING_CHROMIUM = (
    "Chromium is needed to check the MLflow UI and was not found: install Debian's package "
    "(`apt-get install chromium`; .ci/run does) or point DLNET_CHROMIUM at a Chromium executable"
)


class UiError(RuntimeError):
    """The server or the browser failed to start, or a page never showed what was awaited."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


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


# --- the MLflow server ---------------------------------------------------------------------------


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
        self._log: Any = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            self.store_uri,
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]

    def start(self) -> "MlflowServer":
        if self.log_path:
            self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.command(),
            cwd=self.cwd,
            env=server_env(),
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
                raise UiError(f"mlflow server exited with {self.process.returncode}{self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        self.stop()
        raise UiError(f"mlflow server gave no /health in {self.startup_timeout:.0f} s{self._log_tail()}")

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

    def __enter__(self) -> "MlflowServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def api(self, path: str, body: Mapping[str, Any] | None = None, **query: Any) -> dict:
        """One REST call: POST `body` as JSON if given, else GET with `query`. `path` after /api/2.0/mlflow/."""
        url = f"{self.url}/api/2.0/mlflow/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            raise UiError(f"{request.get_method()} {url}: {error.code} {error.read()[:500]!r}") from None

    def search_runs(self, experiment_id: str, filter_string: str = "", order_by: list[str] | None = None) -> list[dict]:
        """Every run of the experiment matching the filter (all pages)."""
        runs: list[dict] = []
        token = None
        while True:
            body: dict[str, Any] = {
                "experiment_ids": [experiment_id],
                "filter": filter_string,
                "max_results": 1000,
                "order_by": order_by or [],
            }
            if token:
                body["page_token"] = token
            page = self.api("runs/search", body)
            runs.extend(page.get("runs", []))
            token = page.get("next_page_token")
            if not token:
                return runs


class DlnetUi(MlflowServer):
    """`python -m dlnet.ui` (what `make ui` runs) over `store_uri`: the addresses it prints, then the UI."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "dlnet.ui", "--store", self.store_uri, "--port", str(self.port)]

    def printed(self) -> list[str]:
        """The addresses it printed before serving (one per line, in order)."""
        assert self.log_path is not None, "DlnetUi needs a log_path to read what it printed"
        text = self.log_path.read_text(errors="replace")
        return [word for line in text.splitlines() for word in line.split() if word.startswith("http://")]


# --- Chromium, through Playwright ----------------------------------------------------------------


def find_chromium() -> str | None:
    """The Chromium executable: $DLNET_CHROMIUM, else Debian's /usr/bin/chromium, else `chromium` on PATH."""
    for candidate in (os.environ.get("DLNET_CHROMIUM"), CHROMIUM, "chromium"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium under Playwright (a `playwright.sync_api.Browser`), closed on exit."""
    from playwright.sync_api import sync_playwright

    executable = find_chromium()
    if executable is None:
        raise UiError(MISSING_CHROMIUM)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def open_page(
    browser: Any, url: str, *, viewport: tuple[int, int] = VIEWPORT, timeout_ms: float = 60_000
) -> Iterator[Any]:
    """`url` in a fresh browser context: no cookies, no local storage, as a new user opens it."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    context.set_default_timeout(timeout_ms)
    try:
        page = context.new_page()
        page.goto(url)
        yield page
    finally:
        context.close()


def close_assistant(page: Any) -> bool:
    """Close MLflow's assistant panel if it opened (it opens once per fresh browser on localhost)."""
    close = page.locator('[data-component-id="mlflow.assistant.chat_panel.close"]')
    if close.count() and close.first.is_visible():
        close.first.click()
        close.first.wait_for(state="hidden")
        return True
    return False
