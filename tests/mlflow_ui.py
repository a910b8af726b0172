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
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dlnet import mlflow_server as dlnet_mlflow_server
from dlnet.mlflow_server import LOOPBACK, free_port, server_env, stop_group  # noqa: F401 (used by the tests)

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


# --- the MLflow server ---------------------------------------------------------------------------


class MlflowServer(dlnet_mlflow_server.MlflowServer):
    """dlnet's `mlflow server` child process, with calls to its REST API."""

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
