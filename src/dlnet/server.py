"""`make server`: a shared MLflow tracking server on PostgreSQL, kept in a project-local folder.

    python -m dlnet.server [--dir .tracking-server] [--port 5000] [--db-port N]

Starts, on 127.0.0.1 only, a PostgreSQL cluster (created on first use with `initdb`, password
authentication) and `mlflow server` on it, with the artifacts proxied by the server (clients
never need the artifact folder). Prints the tracking URI to use; Ctrl-C (or SIGTERM) stops
both cleanly. Everything lives under the folder, so the runs survive a restart:

    <dir>/pgdata/      the PostgreSQL cluster        <dir>/artifacts/  the runs' artifacts
    <dir>/password     the database password (0600)  <dir>/state.json  the database port
    <dir>/*.log        the two servers' logs

PostgreSQL refuses to run as root: as root, the cluster belongs to an unprivileged system user
(Debian's `postgres`, else a `dlnet-postgres` user created here), started through `runuser`.
The binaries: $DLNET_PG_BIN, else `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin
(Debian's `postgresql` package).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from dlnet.lineage import project_root
from dlnet.mlflow_server import LOOPBACK, MlflowServer, MlflowServerError, free_port, server_env, stop_group

DEFAULT_DIR = ".tracking-server"
DB_USER = "dlnet"
DB_NAME = "mlflow"
SYSTEM_USER = "dlnet-postgres"  # created only when running as root on a machine without `postgres`
START_TIMEOUT = 180.0  # MLflow creates its tables on the first start: slow on a busy machine


class ProxiedMlflowServer(MlflowServer):
    """`mlflow server` on a database, serving the runs' artifacts from a folder of its own.

    The database URI (with its password) reaches it through the environment, not the command
    line that `ps` shows.
    """

    def __init__(self, database_uri: str, artifacts: Path, **options):
        super().__init__(database_uri, startup_timeout=START_TIMEOUT, **options)
        self.artifacts = artifacts

    def store_options(self) -> list[str]:
        # The database URI comes from the environment (below), not the command line.
        return ["--artifacts-destination", str(self.artifacts), "--serve-artifacts"]

    def environment(self) -> dict[str, str]:
        return {**server_env(), "MLFLOW_BACKEND_STORE_URI": self.store_uri}


class ServerError(RuntimeError):
    """The server could not be set up or started; the message says what to do."""


# --- PostgreSQL ----------------------------------------------------------------------------------


def postgres_bin() -> Path:
    """The folder of PostgreSQL's server binaries (initdb, postgres)."""
    candidates = [os.environ.get("DLNET_PG_BIN")]
    if shutil.which("pg_config"):
        done = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(done.stdout.strip() if done.returncode == 0 else None)
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
    )
    candidates.extend(reversed(debian))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file() and (Path(candidate) / "postgres").is_file():
            return Path(candidate)
    raise ServerError(
        "PostgreSQL's server binaries (initdb, postgres) were not found: install them "
        "(Debian: `apt-get install postgresql`) or point DLNET_PG_BIN at their folder"
    )


def cluster_user() -> str | None:
    """The user the cluster runs as: None (this user) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", SYSTEM_USER):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
        check=True,
        capture_output=True,
    )
    return SYSTEM_USER


def as_user(user: str | None, command: list[str]) -> list[str]:
    return command if user is None else ["runuser", "-u", user, "--", *command]


def _owned_by(path: Path, user: str | None) -> None:
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def init_cluster(folder: Path, bin_dir: Path, user: str | None, password: str) -> None:
    """`initdb` a new cluster in folder/pgdata: password (SCRAM) authentication, superuser dlnet."""
    pgdata = folder / "pgdata"
    pgdata.mkdir(mode=0o700)
    _owned_by(pgdata, user)
    if user is not None:
        reachable = subprocess.run(as_user(user, ["test", "-w", str(pgdata)]), capture_output=True)
        if reachable.returncode != 0:
            shutil.rmtree(pgdata, ignore_errors=True)
            raise ServerError(
                f"the PostgreSQL user {user!r} cannot reach {pgdata}: a parent folder is closed to other "
                "users. Open them for traversal (chmod o+x) or choose a folder it can reach with --dir"
            )
    pwfile = folder / "pgdata.pw"
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    _owned_by(pwfile, user)
    try:
        done = subprocess.run(
            as_user(
                user,
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    DB_USER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-instructions",
                ],
            ),
            capture_output=True,
            text=True,
        )
    finally:
        pwfile.unlink(missing_ok=True)
    if done.returncode != 0:
        shutil.rmtree(pgdata, ignore_errors=True)
        raise ServerError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")


def database_url(port: int, password: str, database: str = DB_NAME, *, driver: str = "postgresql+psycopg") -> str:
    return f"{driver}://{DB_USER}:{password}@{LOOPBACK}:{port}/{database}"


def _connect(port: int, password: str, database: str, timeout: float = 3.0):
    import psycopg

    return psycopg.connect(
        host=LOOPBACK,
        port=port,
        user=DB_USER,
        password=password,
        dbname=database,
        connect_timeout=max(1, int(timeout)),
        autocommit=True,
    )


def wait_for_postgres(process: subprocess.Popen, port: int, password: str, log: Path, timeout: float = 60.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"PostgreSQL exited with {process.returncode}:\n{_tail(log)}")
        try:
            _connect(port, password, "postgres").close()
            return
        except psycopg.OperationalError:
            time.sleep(0.3)
    raise ServerError(f"PostgreSQL did not accept connections within {timeout:.0f} s:\n{_tail(log)}")


def ensure_database(port: int, password: str) -> None:
    with _connect(port, password, "postgres") as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone() is None:
            connection.execute(f'CREATE DATABASE "{DB_NAME}"')


def _tail(path: Path, lines: int = 20) -> str:
    if not path.is_file():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# --- the two servers, together -------------------------------------------------------------------


class TrackingServer:
    """PostgreSQL and `mlflow server` over it, both on 127.0.0.1, stopped together."""

    def __init__(self, folder: Path, *, port: int = 5000, db_port: int | None = None):
        self.folder = Path(folder).resolve()
        self.port = port or free_port()
        self.requested_db_port = db_port
        self.db_port: int | None = None
        self.postgres: subprocess.Popen | None = None
        self.mlflow: ProxiedMlflowServer | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def _password(self) -> str:
        path = self.folder / "password"
        if not path.is_file():
            path.write_text(secrets.token_urlsafe(24) + "\n")
            path.chmod(0o600)
        return path.read_text().strip()

    def _db_port(self) -> int:
        """The port given, else the one used last time if still free, else a free one (remembered)."""
        state_path = self.folder / "state.json"
        state = json.loads(state_path.read_text()) if state_path.is_file() else {}
        port = self.requested_db_port or state.get("db_port")
        if not port or not _port_free(port):
            if self.requested_db_port:
                raise ServerError(f"port {port} on {LOOPBACK} is in use; choose another with --db-port")
            port = free_port()
        state_path.write_text(json.dumps({**state, "db_port": port}) + "\n")
        return port

    def start(self) -> TrackingServer:
        if not _port_free(self.port):
            raise ServerError(
                f"port {self.port} on {LOOPBACK} is in use; choose another with --port (make server PORT=...)"
            )
        bin_dir = postgres_bin()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o755)  # the cluster's user must traverse it
        (self.folder / "artifacts").mkdir(exist_ok=True)
        user = cluster_user()
        password = self._password()
        if not (self.folder / "pgdata" / "PG_VERSION").is_file():
            init_cluster(self.folder, bin_dir, user, password)
        self.db_port = self._db_port()
        pg_log = self.folder / "postgres.log"
        try:
            with open(pg_log, "ab") as log:
                self.postgres = subprocess.Popen(
                    as_user(
                        user,
                        [
                            str(bin_dir / "postgres"),
                            "-D",
                            str(self.folder / "pgdata"),
                            "-p",
                            str(self.db_port),
                            "-c",
                            f"listen_addresses={LOOPBACK}",
                            "-c",
                            "unix_socket_directories=",
                        ],
                    ),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            wait_for_postgres(self.postgres, self.db_port, password, pg_log)
            ensure_database(self.db_port, password)
            self._start_mlflow(password)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_mlflow(self, password: str) -> None:
        assert self.db_port is not None, "PostgreSQL starts first"
        self.mlflow = ProxiedMlflowServer(
            database_url(self.db_port, password),
            self.folder / "artifacts",
            port=self.port,
            log_path=self.folder / "mlflow.log",
            cwd=self.folder,
        )
        try:
            self.mlflow.start()
        except MlflowServerError as error:
            raise ServerError(str(error)) from None

    def restart_tracking(self) -> None:
        """Stop and start `mlflow server` alone (same port, same database): what an upgrade does."""
        if self.mlflow is not None:
            self.mlflow.stop()
        self._start_mlflow(self._password())

    def stop(self) -> None:
        """MLflow first (SIGTERM), then PostgreSQL (SIGINT: a fast, clean shutdown)."""
        mlflow, self.mlflow = self.mlflow, None
        if mlflow is not None:
            mlflow.stop()
        postgres, self.postgres = self.postgres, None
        if postgres is not None and postgres.poll() is None:
            try:
                os.killpg(postgres.pid, signal.SIGINT)
                postgres.wait(timeout=30)
            except subprocess.TimeoutExpired:
                stop_group(postgres, grace=5)
            except ProcessLookupError:
                pass

    def __enter__(self) -> TrackingServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(self) -> int:
        """Until Ctrl-C or SIGTERM (0), or one of the two servers exits on its own (1)."""
        while True:
            mlflow = self.mlflow.process if self.mlflow else None
            for name, process in (("mlflow server", mlflow), ("PostgreSQL", self.postgres)):
                if process is not None and process.poll() is not None:
                    print(f"error: {name} exited with {process.returncode}; see {self.folder}", file=sys.stderr)
                    return 1
            time.sleep(0.5)


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def _stop_on_sigterm(signum, frame):  # SIGTERM stops the servers as Ctrl-C does
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="An MLflow tracking server on PostgreSQL, on 127.0.0.1.")
    parser.add_argument(
        "--dir",
        default=None,
        help=f"where the database and artifacts live (default: {DEFAULT_DIR}/ at the project root)",
    )
    parser.add_argument("--port", type=int, default=5000, help="the tracking server's port (0: a free one)")
    parser.add_argument("--db-port", type=int, default=None, help="PostgreSQL's port (default: a free one, remembered)")
    args = parser.parse_args(argv)
    folder = Path(args.dir) if args.dir else project_root() / DEFAULT_DIR
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, even when started in the background
    server = TrackingServer(folder, port=args.port, db_port=args.db_port)
    try:
        print(f"Starting PostgreSQL and the MLflow tracking server in {folder} ...", flush=True)
        server.start()
        print(
            f"MLflow tracking server: {server.url} (runs in PostgreSQL on {LOOPBACK}:{server.db_port}, "
            f"artifacts proxied from {folder / 'artifacts'})",
            flush=True,
        )
        print(f"Use it:  export MLFLOW_TRACKING_URI={server.url}", flush=True)
        print("Ctrl-C stops both servers; the runs stay for the next start.", flush=True)
        return server.wait()
    except KeyboardInterrupt:
        print("stopping the tracking server and PostgreSQL ...", flush=True)
        return 0
    except ServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
