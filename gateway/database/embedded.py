"""An embedded PostgreSQL server in a data directory, for development, demos and tests.

Uses the `initdb`, `pg_ctl` and `postgres` binaries found on PATH or in the
usual Debian location. The cluster survives restarts of the gateway; the
superuser password is generated once and kept beside the cluster, readable
only by its owner. PostgreSQL refuses to run as root, so when the process is
root the server runs as the `postgres` system user (or `nobody`). That user
must be able to reach the cluster: when the data directory lies where it cannot
(under /root, or in a private `mktemp -d` directory), the cluster lives in
`RELOCATED_ROOT/<hash of the data directory>` instead, the same place on every
run, and the log says so.

Everything here blocks (subprocesses): call it before the event loop starts or
through `asyncio.to_thread`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

SUPERUSER = "gateway"
DATABASE = "gateway"
# Clusters of data directories the server user cannot reach (the process runs as root).
RELOCATED_ROOT = Path("/var/lib/billing-gateway/embedded-postgres")

log = logging.getLogger(__name__)


class EmbeddedPostgresError(Exception):
    """The embedded server could not be found, created or started."""


@dataclass(frozen=True)
class PostgresBinaries:
    initdb: Path
    pg_ctl: Path
    postgres: Path


def find_binaries() -> PostgresBinaries:
    """Locate initdb, pg_ctl and postgres: PATH first, then /usr/lib/postgresql/<newest>/bin."""
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted(
            (p for p in debian.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
        )
        candidates.extend(p / "bin" for p in reversed(versions))
    for directory in candidates:
        found = [directory / name for name in ("initdb", "pg_ctl", "postgres")]
        if all(os.access(path, os.X_OK) for path in found):
            return PostgresBinaries(*found)
    raise EmbeddedPostgresError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH or in "
        "/usr/lib/postgresql/*/bin; install the Debian package postgresql, or set DATABASE_URL"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EmbeddedPostgres:
    """A PostgreSQL cluster in `directory`, started on a free loopback port.

    `start()` returns a connection URL; `stop()` stops the server if this object
    started it. A server already running on the directory is reused.
    """

    def __init__(
        self, directory: Path, *, port: int | None = None, relocated_root: Path = RELOCATED_ROOT
    ) -> None:
        self.directory = directory.resolve()
        self._run_as = _unprivileged_user() if os.geteuid() == 0 else None
        # Where the cluster, its password and its log live: the data directory, unless the
        # server user cannot reach it.
        self.home = self.directory
        # The directory itself is made searchable in start(); what it lies in must be already.
        in_place = (self.directory / "pg" / "PG_VERSION").exists()
        if not in_place and not _can_traverse(self._run_as, self.directory.parent):
            digest = hashlib.sha256(str(self.directory).encode()).hexdigest()[:16]
            self.home = relocated_root.resolve() / digest
        self.cluster = self.home / "pg"
        self.password_file = self.home / "pg-password"
        self.log_file = self.home / "pg.log"
        self._port = port
        self._started_here = False
        self._binaries: PostgresBinaries | None = None

    @property
    def binaries(self) -> PostgresBinaries:
        if self._binaries is None:
            self._binaries = find_binaries()
        return self._binaries

    def start(self, *, timeout: float = 60.0) -> str:
        """Create the cluster if needed, start it unless running, return its URL."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.home != self.directory:
            self._make_relocated_home()
        elif self._run_as is not None:
            # The server user must be able to reach its cluster inside our directory.
            self.directory.chmod(self.directory.stat().st_mode | 0o111)
        if not (self.cluster / "PG_VERSION").exists():
            self._initdb()
        port = self._running_port()
        if port is None:
            port = self._port or free_port()
            self._pg_ctl_start(port, timeout)
            self._started_here = True
        return self.url(port)

    def _make_relocated_home(self) -> None:
        # The directories made here are searchable (never listable) by others: the server
        # user needs to reach the cluster, whose own mode stays 0700.
        created = [d for d in (self.home, *self.home.parents) if not d.exists()]
        self.home.mkdir(parents=True, exist_ok=True)
        for directory in created:
            directory.chmod(directory.stat().st_mode | 0o711)
        if not _can_traverse(self._run_as, self.home):
            raise EmbeddedPostgresError(
                f"the {_user_name(self._run_as)} user cannot reach {self.home}; run as that "
                f"user, or set DATABASE_URL to an existing PostgreSQL server"
            )
        marker = self.home / "data-directory"
        if not marker.exists():
            marker.write_text(f"{self.directory}\n")
            log.info(
                "the %s user cannot reach %s: the embedded PostgreSQL cluster is kept in %s",
                _user_name(self._run_as),
                self.directory,
                self.home,
            )

    def url(self, port: int) -> str:
        password = quote(self.password_file.read_text().strip(), safe="")
        return f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{port}/{DATABASE}"

    def stop(self) -> None:
        """Stop the server if this object started it (fast shutdown: sessions are ended)."""
        if not self._started_here:
            return
        self._run([str(self.binaries.pg_ctl), "stop", "-D", str(self.cluster), "-m", "fast", "-w"])
        self._started_here = False

    def _initdb(self) -> None:
        if self.cluster.exists() and any(self.cluster.iterdir()):
            raise EmbeddedPostgresError(
                f"{self.cluster} exists but holds no PostgreSQL cluster; move it away"
            )
        password = secrets.token_urlsafe(24)
        self.password_file.write_text(password + "\n")
        self.password_file.chmod(0o600)
        self.cluster.mkdir(mode=0o700, exist_ok=True)
        pwfile = self.home / ".initdb-password"
        pwfile.write_text(password + "\n")
        self._give_to_server_user(self.cluster, pwfile)
        try:
            self._run(
                [
                    str(self.binaries.initdb),
                    "-D",
                    str(self.cluster),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with (self.cluster / "postgresql.conf").open("a") as conf:
            # Loopback only, no Unix socket outside the cluster directory, modest resources.
            conf.write(
                "\n# written by the gateway's embedded server\n"
                "listen_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\n"
                "max_connections = 200\n"
                "shared_buffers = 64MB\n"
                "fsync = on\n"
            )
        self._run_sql_create_database()

    def _run_sql_create_database(self) -> None:
        # Start once in single-user-free fashion: a short-lived server creates the database.
        port = free_port()
        self._pg_ctl_start(port, 60.0)
        try:
            self._run(
                [
                    str(self.binaries.postgres.parent / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    SUPERUSER,
                    DATABASE,
                ],
                env={"PGPASSWORD": self.password_file.read_text().strip()},
            )
        finally:
            self._run(
                [str(self.binaries.pg_ctl), "stop", "-D", str(self.cluster), "-m", "fast", "-w"]
            )

    def _pg_ctl_start(self, port: int, timeout: float) -> None:
        self._give_to_server_user(self.log_file)
        self._run(
            [
                str(self.binaries.pg_ctl),
                "start",
                "-D",
                str(self.cluster),
                "-l",
                str(self.log_file),
                "-o",
                f"-p {port}",
                "-w",
                "-t",
                str(int(timeout)),
            ]
        )

    def _running_port(self) -> int | None:
        """The port of a live server on this cluster, from postmaster.pid, else None."""
        pid_file = self.cluster / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (FileNotFoundError, IndexError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                return port
            time.sleep(0.1)
        return None

    def _give_to_server_user(self, *paths: Path) -> None:
        if self._run_as is None:
            return
        uid, gid = self._run_as
        for path in paths:
            if not path.exists():
                path.touch(mode=0o600)
            os.chown(path, uid, gid)

    def _run(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, "LC_ALL": "C", **(env or {})}
        user = group = None
        if self._run_as is not None:
            user, group = self._run_as
        # argv is built here from the located PostgreSQL binaries and our own paths.
        result = subprocess.run(  # noqa: S603
            argv,
            capture_output=True,
            text=True,
            env=full_env,
            user=user,
            group=group,
            cwd=self.home,
            check=False,
        )
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip()
            log = ""
            if self.log_file.exists():
                log = "\n" + "\n".join(self.log_file.read_text().splitlines()[-10:])
            raise EmbeddedPostgresError(f"{Path(argv[0]).name} failed: {detail}{log}")


def _unprivileged_user() -> tuple[int, int]:
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise EmbeddedPostgresError(
        "running as root, and neither a postgres nor a nobody user exists to run PostgreSQL"
    )


def _can_traverse(user: tuple[int, int] | None, directory: Path) -> bool:
    """Whether `user` can search `directory` (or, if absent, the nearest existing parent)."""
    if user is None:
        return True
    existing = directory
    while not existing.exists():
        existing = existing.parent
    uid, gid = user
    # access(2) as that user resolves every component of the path: what initdb will do.
    result = subprocess.run(  # noqa: S603
        ["/usr/bin/test", "-x", str(existing)],
        user=uid,
        group=gid,
        extra_groups=[],
        check=False,
    )
    return result.returncode == 0


def _user_name(user: tuple[int, int] | None) -> str:
    if user is None:
        return "current"
    try:
        return pwd.getpwuid(user[0]).pw_name
    except KeyError:
        return f"uid {user[0]}"
