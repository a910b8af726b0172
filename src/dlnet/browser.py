"""The MLflow UI, driven for real: a tracking server on loopback and headless Chromium.

Used by the end-to-end test (tests/test_ui_e2e.py) and by the script that makes the
README's screenshots (scripts/ui_screenshot.py). Standard library only.

- `MlflowServer` runs `mlflow server` over a store on a free 127.0.0.1 port, is ready when
  `/health` answers, and is stopped by its process group id; `api` calls its REST API.
- `render_dom` and `render_screenshot` run Debian's `chromium` once per page. MLflow's UI is a
  JavaScript app that keeps fetching after the load event: Chromium only waits for it with a
  virtual time budget (20 s or more; 30 s here).
- `DevToolsPage` drives one Chromium tab over the DevTools protocol, for what a command line
  cannot do: click (expand a sweep's parent run), wait for a condition, then take a screenshot.

The UI's addresses and saved views live in dlnet.ui_views (the sweep saves a view too).
The runs table nests child runs under their parent (collapsed) only when it is sorted by
creation time and not filtered; any other sort order or a filter lists every run flat.
"""

from __future__ import annotations

import base64
import html
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Mapping

# The UI's addresses and saved views, re-exported for the test and the screenshot script.
from dlnet.ui_views import MODEL_TRAINING, metric_key, run_columns, runs_url, sweep_view_id, view_url  # noqa: F401

LOOPBACK = "127.0.0.1"
CHROMIUM_NAMES = ("chromium", "chromium-browser")
RENDER_BUDGET_MS = 30_000  # MLflow's page needs at least 20,000 ms of virtual time
WINDOW = (1600, 1000)


class BrowserError(RuntimeError):
    """Chromium is missing, failed, or the page never showed what was awaited."""


# --- the MLflow server ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


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

    def __init__(self, store_uri: str, *, port: int | None = None, log_path: Path | None = None,
                 cwd: Path | None = None, startup_timeout: float = 90.0):
        self.store_uri = store_uri
        self.port = port or free_port()
        self.log_path = Path(log_path) if log_path else None
        self.cwd = Path(cwd) if cwd else None
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.store_uri,
                "--host", LOOPBACK, "--port", str(self.port), "--workers", "1"]

    def environment(self) -> dict[str, str]:
        return server_env()

    def start(self) -> "MlflowServer":
        if self.log_path:
            self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.command(), cwd=self.cwd, env=self.environment(), stdin=subprocess.DEVNULL,
            stdout=self._log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends the server and its workers
        )
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrowserError(f"mlflow server exited with {self.process.returncode}{self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        self.stop()
        raise BrowserError(f"mlflow server gave no /health in {self.startup_timeout:.0f} s{self._log_tail()}")

    def _log_tail(self) -> str:
        if not self.log_path or not self.log_path.is_file():
            return ""
        return "\n" + "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])

    def stop(self) -> None:
        """SIGTERM to the server's process group (the CLI and its uvicorn worker), SIGKILL after 15 s."""
        process, self.process = self.process, None
        if process is not None:
            _kill_group(process, grace=15)
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
            raise BrowserError(f"{request.get_method()} {url}: {error.code} {error.read()[:500]!r}") from None

    def search_runs(self, experiment_id: str, filter_string: str = "", order_by: list[str] | None = None) -> list[dict]:
        """Every run of the experiment matching the filter (all pages)."""
        runs, token = [], None
        while True:
            body = {"experiment_ids": [experiment_id], "filter": filter_string, "max_results": 1000,
                    "order_by": order_by or []}
            if token:
                body["page_token"] = token
            page = self.api("runs/search", body)
            runs.extend(page.get("runs", []))
            token = page.get("next_page_token")
            if not token:
                return runs


# --- Chromium from the command line --------------------------------------------------------------

def find_chromium() -> str | None:
    """The Chromium executable: $DLNET_CHROMIUM, else `chromium` on PATH (Debian's package)."""
    configured = os.environ.get("DLNET_CHROMIUM")
    if configured:
        return configured if shutil.which(configured) else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


MISSING_CHROMIUM = (
    "headless Chromium is needed to check the MLflow UI and was not found: install Debian's package "
    "(`apt-get install chromium`; .ci/run does) or point DLNET_CHROMIUM at a Chromium executable"
)


def require_chromium() -> str:
    found = find_chromium()
    if not found:
        raise BrowserError(MISSING_CHROMIUM)
    return found


def chromium_flags(profile: Path, *, window: tuple[int, int] = WINDOW) -> list[str]:
    """Headless, sandbox-free (root in a container), quiet, with a fresh profile."""
    return [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio",
        "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={window[0]},{window[1]}",
    ]


def _run_chromium(extra: list[str], url: str, *, budget_ms: int, window: tuple[int, int], timeout: float):
    """Run Chromium once on `url`; return (stdout, stderr). Its whole process group ends with it."""
    chromium = require_chromium()
    with tempfile.TemporaryDirectory(prefix="dlnet-chromium-", ignore_cleanup_errors=True) as profile:
        args = [chromium, *chromium_flags(Path(profile), window=window), f"--virtual-time-budget={budget_ms}",
                *extra, url]
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, start_new_session=True)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise BrowserError(f"chromium did not finish rendering {url} in {timeout:.0f} s") from None
    if process.returncode != 0:
        raise BrowserError(f"chromium exited {process.returncode} on {url}\n{stderr[-2000:]}")
    return stdout, stderr


def _kill_group(process: subprocess.Popen, grace: float = 10) -> None:
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


def render_dom(url: str, *, budget_ms: int = RENDER_BUDGET_MS, window: tuple[int, int] = WINDOW,
               timeout: float = 180) -> str:
    """The page's DOM once its scripts have run (`--dump-dom`)."""
    return _run_chromium(["--dump-dom"], url, budget_ms=budget_ms, window=window, timeout=timeout)[0]


def render_screenshot(url: str, path: Path, *, budget_ms: int = RENDER_BUDGET_MS,
                      window: tuple[int, int] = WINDOW, timeout: float = 180) -> Path:
    """A PNG of the page as rendered (`--screenshot`)."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    _run_chromium([f"--screenshot={path}"], url, budget_ms=budget_ms, window=window, timeout=timeout)
    if not path.is_file() or path.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        raise BrowserError(f"chromium wrote no PNG screenshot of {url} to {path}")
    return path


class _Text(HTMLParser):
    """The visible text of a DOM, one line per text node; and the page's <title>."""

    SKIP = {"script", "style", "noscript", "template"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self._skip += 1
        if tag == "title" and not self.title:  # the page's, not an SVG icon's
            self._in_title = True

    def handle_endtag(self, tag):
        if tag in self.SKIP and self._skip:
            self._skip -= 1
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        text = " ".join(data.split())
        if self._in_title:
            self.title += text
        elif text and not self._skip:
            self.lines.append(text)


def page_text(dom: str) -> tuple[str, list[str]]:
    """(title, visible text lines) of a dumped DOM."""
    parser = _Text()
    parser.feed(dom)
    return html.unescape(parser.title), parser.lines


# --- Chromium over the DevTools protocol ---------------------------------------------------------

class _WebSocket:
    """Just enough of RFC 6455 for the DevTools protocol on loopback: text frames, client masking."""

    def __init__(self, url: str, timeout: float):
        parts = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {parts.path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(request.encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise BrowserError("DevTools closed the connection during the handshake")
            response += chunk
        head, self._buffer = response.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise BrowserError(f"DevTools refused the WebSocket: {head[:200]!r}")

    def _read(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buffer)))
            if not chunk:
                raise BrowserError("DevTools closed the connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def send(self, text: str) -> None:
        payload = text.encode()
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x81, 0x80 | size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def receive(self) -> str:
        message = b""
        while True:
            first, second = self._read(2)
            opcode, size = first & 0x0F, second & 0x7F
            if size == 126:
                size = struct.unpack("!H", self._read(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if second & 0x80 else None
            payload = self._read(size)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                raise BrowserError("DevTools closed the WebSocket")
            if opcode == 0x9:  # ping
                self.sock.sendall(struct.pack("!BB", 0x8A, 0x80) + os.urandom(4))
                continue
            if opcode in (0x0, 0x1, 0x2):
                message += payload
                if first & 0x80:
                    return message.decode()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class DevToolsPage:
    """One headless Chromium tab driven over the DevTools protocol; a context manager.

    Unlike `render_*` it runs in real time: `wait_for` polls the page for a condition.
    """

    def __init__(self, *, window: tuple[int, int] = WINDOW, timeout: float = 60):
        self.window = window
        self.timeout = timeout
        chromium = require_chromium()
        self._profile = tempfile.TemporaryDirectory(prefix="dlnet-chromium-", ignore_cleanup_errors=True)
        profile = Path(self._profile.name)
        self.process = subprocess.Popen(
            [chromium, *chromium_flags(profile, window=window), "--remote-debugging-port=0", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        self._ws: _WebSocket | None = None
        self._next_id = 0
        try:
            self._ws = _WebSocket(self._page_socket(profile), timeout)
            self.call("Page.enable")
            self.call("Emulation.setDeviceMetricsOverride", width=window[0], height=window[1],
                      deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.close()
            raise

    def _page_socket(self, profile: Path) -> str:
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrowserError(f"chromium exited with {self.process.returncode}")
            if active.is_file() and len(active.read_text().splitlines()) >= 2:
                port = int(active.read_text().splitlines()[0])
                try:
                    with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/json/list", timeout=5) as response:
                        targets = json.loads(response.read())
                except (urllib.error.URLError, OSError):
                    targets = []
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            time.sleep(0.1)
        raise BrowserError("chromium's DevTools endpoint did not come up")

    def call(self, method: str, **params: Any) -> dict:
        self._next_id += 1
        ident = self._next_id
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.receive())
            if message.get("id") == ident:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed: {result['exceptionDetails'].get('text')} in {expression[:200]}")
        return result.get("result", {}).get("value")

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def wait_for(self, expression: str, *, timeout: float | None = None, what: str = "") -> Any:
        """Poll a JavaScript expression until it is truthy; return its value.

        The value crosses as JSON: test for an element with `!!document.querySelector(...)`.
        """
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except BrowserError:
                value = None
            if value:
                return value
            time.sleep(0.25)
        raise BrowserError(f"timed out waiting for {what or expression[:200]}")

    def settle(self, seconds: float = 1.5) -> None:
        time.sleep(seconds)

    def text(self) -> str:
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def screenshot(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        if self._ws:
            self._ws.close()
            self._ws = None
        _kill_group(self.process)
        self._profile.cleanup()

    def __enter__(self) -> "DevToolsPage":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
