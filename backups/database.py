"""Dumping and loading the panel's database, which Postfix and Dovecot read.

PostgreSQL: ``pg_dump`` in custom format. It runs in one repeatable-read
snapshot, so the dump is consistent in itself while the panel and the mail
server keep working. It is written uncompressed (``-Z 0``): restic compresses
and deduplicates, and an already-compressed dump would defeat both.

SQLite: the online backup API copies pages under the database's own locking,
so a write during the copy restarts or follows it instead of tearing it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.db import connections

DUMP_NAMES = {"postgresql": "mailpanel.pgdump", "sqlite": "mailpanel.sqlite3"}


class DatabaseError(Exception):
    """A dump or load failed; the message is one readable line."""


def _settings(alias: str = "default") -> Mapping[str, Any]:
    return connections[alias].settings_dict


def vendor(alias: str = "default") -> str:
    return connections[alias].vendor


def _pg_env(db: Mapping[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    for key, name in (
        ("HOST", "PGHOST"),
        ("PORT", "PGPORT"),
        ("USER", "PGUSER"),
        ("PASSWORD", "PGPASSWORD"),
    ):
        if db.get(key):
            env[name] = str(db[key])
    return env


def _run(command: list[str], env: Mapping[str, str], what: str) -> None:
    try:
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise DatabaseError(
            f"{command[0]} is not installed (Debian: postgresql-client)"
        ) from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        reason = lines[0] if lines else f"exit status {result.returncode}"
        raise DatabaseError(f"{what} failed: {reason}"[:500])


def dump(directory: Path, alias: str = "default") -> Path:
    """Write a consistent dump of the database into ``directory``."""
    kind = vendor(alias)
    if kind not in DUMP_NAMES:
        raise DatabaseError(f"backing up a {kind} database is not supported")
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / DUMP_NAMES[kind]
    db = _settings(alias)
    if kind == "postgresql":
        _run(
            [
                "pg_dump",
                "--format=custom",
                "--compress=0",
                "--no-password",
                f"--file={target}",
                "--dbname",
                db["NAME"],
            ],
            _pg_env(db),
            "pg_dump",
        )
    else:
        source = sqlite3.connect(db["NAME"])
        destination = sqlite3.connect(target)
        try:
            with destination:
                source.backup(destination)
        finally:
            destination.close()
            source.close()
    target.chmod(0o600)
    return target


def load(path: Path, alias: str = "default") -> None:
    """Replace the live database with the dump at ``path``.

    PostgreSQL: in one transaction, so a failed restore leaves the database
    as it was. Django's own connections are closed first: they would hold
    locks that make the drops wait.
    """
    connections.close_all()
    db = _settings(alias)
    if vendor(alias) == "postgresql":
        _pg_restore(path, db["NAME"], db)
    else:
        source = sqlite3.connect(path)
        destination = sqlite3.connect(db["NAME"])
        try:
            with destination:
                source.backup(destination)
        finally:
            destination.close()
            source.close()


def _pg_restore(path: Path, name: str, db: Mapping[str, Any]) -> None:
    _run(
        [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            "--no-password",
            "--dbname",
            name,
            str(path),
        ],
        _pg_env(db),
        "pg_restore",
    )


def verify(path: Path, *, scratch_name: str, alias: str = "default") -> int:
    """Load the dump into a scratch database and count its applied migrations.

    The scratch database is dropped afterwards whatever happens. Returns the
    number of rows in django_migrations, which a usable dump never lacks.
    """
    db = _settings(alias)
    if vendor(alias) == "sqlite":
        copy = path.with_suffix(".verify")
        shutil.copyfile(path, copy)
        try:
            connection = sqlite3.connect(copy)
            try:
                (status,) = connection.execute("PRAGMA integrity_check").fetchone()
                if status != "ok":
                    raise DatabaseError(f"the SQLite dump is damaged: {status}")
                (count,) = connection.execute(
                    "SELECT count(*) FROM django_migrations"
                ).fetchone()
            finally:
                connection.close()
        finally:
            copy.unlink(missing_ok=True)
        return int(count)
    import psycopg
    from psycopg import sql

    def admin() -> psycopg.Connection:
        return psycopg.connect(
            dbname=db["NAME"],
            host=db.get("HOST") or None,
            port=db.get("PORT") or None,
            user=db.get("USER") or None,
            password=db.get("PASSWORD") or None,
            autocommit=True,
        )

    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
        sql.Identifier(scratch_name)
    )
    with admin() as connection:
        connection.execute(drop)
        connection.execute(
            sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch_name))
        )
    try:
        _pg_restore(path, scratch_name, db)
        with psycopg.connect(
            dbname=scratch_name,
            host=db.get("HOST") or None,
            port=db.get("PORT") or None,
            user=db.get("USER") or None,
            password=db.get("PASSWORD") or None,
        ) as connection:
            row = connection.execute(
                "SELECT count(*) FROM django_migrations"
            ).fetchone()
    except psycopg.Error as exc:
        raise DatabaseError(f"the restored dump is unusable: {exc}") from None
    finally:
        with admin() as connection:
            connection.execute(drop)
    return int(row[0]) if row else 0
