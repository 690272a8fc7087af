"""SQLite persistence for the embedded store: write-through, one transaction per write.

The store calls `put` or `remove` for every change, after it has checked the change and before
it publishes it (in memory and to watchers), so a crash can lose nothing that anyone has seen.
Each call is one transaction that writes the object row and the store's resourceVersion counter
together (deletes bump the counter too, so it cannot be recovered from the rows alone).

`load()` returns everything needed to restart: the counter, the resource descriptors and every
object's encoded body, which keeps its resourceVersion. The database runs in WAL mode with
`synchronous=NORMAL`: a process crash loses no committed transaction; a power cut may lose the
last few (`durable=True` selects `synchronous=FULL` when that matters more than write latency).

Calls are synchronous on the event loop thread. A small write commits in tens of microseconds,
far less than handing it to a thread would cost, and it keeps writes ordered by resourceVersion.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec

from .base import Resource

__all__ = ["SqlitePersistence", "Snapshot", "StoreLocked"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS resources (key TEXT PRIMARY KEY, descriptor BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    rv INTEGER NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY (resource, namespace, name)
) WITHOUT ROWID;
"""
_resource_encoder = msgspec.json.Encoder()
_resource_decoder = msgspec.json.Decoder(Resource)


class StoreLocked(Exception):
    """The SQLite file is held by another running embedded store."""


class Snapshot(msgspec.Struct, frozen=True):
    """What a restart needs: the counter, descriptors by key, rows (resource key, ns, name, body)."""

    resource_version: int
    resources: dict[str, Resource]
    rows: list[tuple[str, str, str, bytes]]


class SqlitePersistence:
    """One SQLite file holding one embedded store."""

    def __init__(self, path: str | Path, /, *, durable: bool = False) -> None:
        self.path = Path(path)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=0.5)
        try:
            # One store per file: a second controller on the same file would fork history, so
            # the first holds an exclusive lock for as long as it runs.
            self._conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._conn.executescript(_SCHEMA)
        except sqlite3.OperationalError as exc:
            self._conn.close()
            if getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise StoreLocked(f"{self.path}: another embedded store has this file open") from exc
            raise
        self._known: set[str] = set()

    def load(self) -> Snapshot:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'resourceVersion'").fetchone()
        resources = {key: _resource_decoder.decode(blob)
                     for key, blob in self._conn.execute("SELECT key, descriptor FROM resources")}
        self._known.update(resources)
        rows = [(r, ns, name, bytes(body)) for r, ns, name, body in self._conn.execute(
            "SELECT resource, namespace, name, body FROM objects ORDER BY rv")]
        return Snapshot(int(row[0]) if row else 0, resources, rows)

    def _begin(self, resource: Resource, rv: int) -> None:
        self._conn.execute("BEGIN")
        if resource.key not in self._known:
            self._conn.execute("INSERT OR REPLACE INTO resources VALUES (?, ?)",
                               (resource.key, _resource_encoder.encode(resource)))
        self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('resourceVersion', ?)", (rv,))

    def _commit(self, resource: Resource) -> None:
        self._conn.execute("COMMIT")
        self._known.add(resource.key)

    def put(self, resource: Resource, namespace: str, name: str, rv: int, body: bytes, /) -> None:
        """Insert or replace one object and advance the counter, atomically."""
        try:
            self._begin(resource, rv)
            self._conn.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?)",
                               (resource.key, namespace, name, rv, body))
            self._commit(resource)
        except BaseException:
            self._rollback()
            raise

    def remove(self, resource: Resource, namespace: str, name: str, rv: int, /) -> None:
        """Delete one object and advance the counter, atomically."""
        try:
            self._begin(resource, rv)
            self._conn.execute("DELETE FROM objects WHERE resource = ? AND namespace = ? AND name = ?",
                               (resource.key, namespace, name))
            self._commit(resource)
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def close(self) -> None:
        self._conn.close()
