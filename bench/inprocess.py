"""What the in-process benchmarks share (statements.py, insert_chain_ab.py, trips_ab.py): the
settings they run Django with on a Postgres bench database, an `agent` API key made through
`manage.py`, and the Postgres backend's CPU read from /proc."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def settings_env(db_name: str) -> dict[str, str]:
    """The environment to run the project with against database `db_name`, as bench/run.py
    serves it: DEBUG off, throttling on (with a rate no run reaches), persistent connection,
    no mail sent, no `.env` read."""
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db_name}",
        "SECRET_KEY": "bench",
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1,testserver",
        "DB_CONN_MAX_AGE": "600",
        "BROWSABLE_API": "false",
        "THROTTLE_RATE_API_KEY": "1000000/min",
        "LOG_LEVEL": "WARNING",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "ENV_FILE": "",
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
    }


def create_api_key(env: dict[str, str], name: str, root: Path = ROOT) -> str:
    """A new `agent` key (the last line `manage.py create_api_key` prints)."""
    out = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", name, "--scope", "agent"],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip().splitlines()[-1]


class BackendCpu:
    """User + system CPU of the Postgres server process behind Django's (persistent)
    connection, in seconds at clock-tick resolution: only a sum over a run means anything."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self._ticks = os.sysconf("SC_CLK_TCK")

    def attach(self) -> int:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.pid = cursor.fetchone()[0]
        return self.pid

    def seconds(self) -> float:
        stat = Path(f"/proc/{self.pid}/stat")
        if self.pid is None or not stat.exists():
            return 0.0
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self._ticks
