"""Tracking URIs without MLflow: credentials masked, and whether the store answers at all.

Standard library only, so the errors below can be caught (and a URI redacted) by code that
has not imported mlflow.
"""

from __future__ import annotations

import http.client
import re
import socket
import time
import urllib.parse

REACH_TIMEOUT_SECONDS = 5.0  # one probe of the server; two probes at most before a run starts


class TrackingError(RuntimeError):
    """The tracking store cannot be created, reached or written; the message names it and why."""


class TrackingUnreachableError(TrackingError):
    """The tracking store cannot be reached at all; the message names the (redacted) URI."""


# `scheme://user:password@host`: the password part of any URI in a text.
_CREDENTIALS = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^/@\s:]*):(?P<secret>[^/@\s]*)@")


def redact(text: str) -> str:
    """`text` with the password of every URI in it masked, as SQLAlchemy prints one: user:***@host."""
    return _CREDENTIALS.sub(lambda m: f"{m['head']}:***@", str(text))


def check_reachable(uri: str, timeout: float = REACH_TIMEOUT_SECONDS, attempts: int = 2) -> None:
    """Raise TrackingUnreachableError unless the store behind `uri` answers (before a run starts).

    A tracking server must answer `/health`; a database server must accept a connection. A
    refused connection and a server that accepts but never answers both fail within
    `attempts` × `timeout` seconds. Local files (SQLite) are always reachable.
    """
    parts = urllib.parse.urlsplit(uri)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("http", "https", "postgresql", "mysql", "mssql"):
        return
    reason = "no answer"
    for attempt in range(attempts):
        try:
            if scheme in ("http", "https"):
                _probe_http(uri, timeout)
            else:
                default_port = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}[scheme]
                socket.create_connection((parts.hostname or "localhost", parts.port or default_port), timeout).close()
            return
        except (OSError, http.client.HTTPException, ValueError) as error:
            reason = _reason(error, timeout)
            if attempt + 1 < attempts:
                time.sleep(1.0)
    raise TrackingUnreachableError(f"the tracking store {redact(uri)} cannot be reached ({reason})")


def _probe_http(uri: str, timeout: float) -> None:
    parts = urllib.parse.urlsplit(uri)
    host = parts.hostname or "localhost"
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(host, parts.port, timeout=timeout)
    try:
        connection.request("GET", parts.path.rstrip("/") + "/health")
        response = connection.getresponse()
        if response.status >= 500:
            raise OSError(f"HTTP {response.status} from /health")
    finally:
        connection.close()


def _reason(error: Exception, timeout: float) -> str:
    if isinstance(error, (socket.timeout, TimeoutError)):
        return f"no answer within {timeout:g} s"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    return redact(getattr(error, "strerror", None) or str(error) or type(error).__name__)


def _local_path(value: str) -> str | None:
    """The absolute file path inside `value` (a path, or a sqlite:/file: URI), if any."""
    for prefix in ("sqlite:///", "file://", ""):
        if value.startswith(prefix) and value[len(prefix) :].startswith("/"):
            return value[len(prefix) :]
    return None


def portable_params(flat: dict, root) -> tuple[dict, dict]:
    """Params any machine can read, and tags keeping what they lost.

    Credentials in URIs are masked everywhere. An absolute path of this machine becomes
    relative to the project `root` (or just its file name outside it) in the param; the
    full, redacted value is kept as the tag `dlnet.local.<key>`.
    """
    from pathlib import PurePosixPath

    params, tags = {}, {}
    for key, value in flat.items():
        if isinstance(value, str):
            value = redact(value)
            path = _local_path(value)
            if path is not None:
                tags[f"dlnet.local.{key}"] = value
                try:
                    short = str(PurePosixPath(path).relative_to(str(root)))
                except ValueError:
                    short = PurePosixPath(path).name
                value = value.replace(path, short)
        params[key] = value
    return params, tags
