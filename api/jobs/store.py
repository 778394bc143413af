"""The job store: every order and its state in SQLite, durable before it is acknowledged.

One table, one row per job. The database runs in WAL mode. A job is committed before its 201
is sent. With ``synchronous=FULL`` (the default, ``L3A_DB_SYNCHRONOUS``) each commit is also
fsync'd, so neither a crash of the process nor one of the machine loses an acknowledged order;
it costs 0.3 ms a commit on an idle disk, but while a job writes its COGs an fsync waits for
the filesystem journal (measured: order p50 220 ms against 58 ms with ``NORMAL`` under load).
``NORMAL`` still survives a crash of the process (kill -9): the commit is in the WAL file;
only an OS crash or power loss may then forget the last orders. Readers never wait for the
writer under WAL, and writes are short single statements, so one connection behind a lock
serves the API threads and the workers.

A job's product, when it has one, is the folder ``products/<product_id>`` and ``product_id``
is the job id: the only names the service ever turns into paths are ids it generated itself.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any


class JobStatus(StrEnum):
    """The states of a job, as OGC API - Processes names them (and the store keeps them)."""

    ACCEPTED = "accepted"
    RUNNING = "running"
    SUCCESSFUL = "successful"
    FAILED = "failed"
    DISMISSED = "dismissed"


#: States a job never leaves except by dismissal.
FINAL = (JobStatus.SUCCESSFUL, JobStatus.FAILED, JobStatus.DISMISSED)
#: States in which a job answers an identical order.
_LIVE = f"('{JobStatus.ACCEPTED}', '{JobStatus.RUNNING}', '{JobStatus.SUCCESSFUL}')"
#: A job interrupted this many times by a restart is failed rather than run again: it may
#: well be what brought the server down.
MAX_ATTEMPTS = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    process_id TEXT NOT NULL,
    order_hash TEXT NOT NULL,
    inputs TEXT NOT NULL,
    status TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0,
    message TEXT,
    created TEXT NOT NULL,
    started TEXT,
    finished TEXT,
    updated TEXT NOT NULL,
    product_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_hash ON jobs (order_hash, status);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
CREATE INDEX IF NOT EXISTS jobs_product ON jobs (product_id);
"""


def now() -> str:
    """Return the current UTC time, ISO 8601 with milliseconds and a Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: How a failed job's message starts when the failure is the service's, not the order's
#: (`failed_on_the_server`): its results answer 500 then, 422 otherwise.
INTERNAL_FAILURE = "internal error "
CATALOGUE_FAILURE = "catalogue error: "
INTERRUPTED_FAILURE = "interrupted by "


def failed_on_the_server(message: str | None) -> bool:
    """Whether a failed job's message says the service failed (a bug, a catalogue, restarts)."""
    return (message or "").startswith((INTERNAL_FAILURE, CATALOGUE_FAILURE, INTERRUPTED_FAILURE))


@dataclass(frozen=True)
class Job:
    """One row of the store."""

    id: str
    process_id: str
    order_hash: str
    inputs: dict[str, Any]
    status: JobStatus
    progress: int
    message: str | None
    created: str
    started: str | None
    finished: str | None
    updated: str
    product_id: str | None
    attempts: int

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        """Build a job from a ``SELECT *`` row."""
        values = dict(zip(row.keys(), tuple(row), strict=True))
        del values["seq"]
        values["inputs"] = json.loads(values["inputs"])
        values["status"] = JobStatus(values["status"])
        return cls(**values)


class QueueIsFull(Exception):
    """`JobStore.submit` found ``max_queue`` jobs waiting already."""

    def __init__(self, waiting: int) -> None:
        super().__init__(f"{waiting} orders are waiting")
        self.waiting = waiting


class JobStore:
    """SQLite-backed jobs. Thread-safe; every method is one short transaction.

    Args:
        path: the database file (created with its folder if missing).
        synchronous: ``FULL`` (fsync every commit) or ``NORMAL`` (see the module notes).

    """

    def __init__(self, path: Path, synchronous: str = "FULL") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        # Autocommit mode (isolation_level=None): transactions are explicit, below.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                   timeout=30.0)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            # IMMEDIATE: take the write lock at once, so a read-then-write (dismissal,
            # recovery) cannot interleave with another connection's write either.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run one statement in its own (autocommit) transaction; return all its rows."""
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _one(self, sql: str, args: Sequence[Any] = ()) -> Job | None:
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return Job.from_row(row) if row is not None else None

    # -- orders -------------------------------------------------------------------------

    def submit(self, process_id: str, order_hash: str, inputs: dict[str, Any],
               max_queue: int) -> tuple[Job, bool]:
        """Store a new order, or find the live job of an identical one.

        Returns:
            (job, created): ``created`` is False when an accepted, running or successful job
            with the same hash exists; that job is returned and nothing is written.

        Raises:
            QueueIsFull: ``max_queue`` jobs are accepted and not yet running.

        """
        for _ in range(3):
            job_id, stamp = uuid.uuid4().hex, now()
            # One statement does the dedupe, the queue bound and the insert, atomically (an
            # autocommit statement is its own transaction). One call into SQLite rather than
            # five matters under load: each call releases the GIL and may wait up to the
            # switch interval (5 ms) to get it back while a job computes in this process.
            rows = self._execute(
                "INSERT INTO jobs (id, process_id, order_hash, inputs, status, message, "
                "created, updated, product_id) "
                f"SELECT ?, ?, ?, ?, '{JobStatus.ACCEPTED}', 'queued', ?, ?, ? "
                "WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE order_hash = ? AND process_id = ? "
                f"AND status IN {_LIVE}) "
                f"AND (SELECT count(*) FROM jobs WHERE status = '{JobStatus.ACCEPTED}') < ? "
                "RETURNING *",
                (job_id, process_id, order_hash, json.dumps(inputs, sort_keys=True), stamp,
                 stamp, job_id, order_hash, process_id, max_queue),
            )
            if rows:
                return Job.from_row(rows[0]), True
            existing = self._one(
                f"SELECT * FROM jobs WHERE order_hash = ? AND process_id = ? AND status IN "
                f"{_LIVE} ORDER BY seq DESC LIMIT 1", (order_hash, process_id))
            if existing is not None:
                return existing, False
            waiting = self.waiting()
            if waiting >= max_queue:
                raise QueueIsFull(waiting)
            # Neither: the twin failed or the queue moved in between; try again.
        raise QueueIsFull(self.waiting())

    def waiting(self) -> int:
        """Count the jobs accepted and not yet running."""
        with self._lock:
            (count,) = self._db.execute(
                f"SELECT count(*) FROM jobs WHERE status = '{JobStatus.ACCEPTED}'").fetchone()
        return int(count)

    # -- reads --------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        """Return the job called ``job_id``, or None."""
        return self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))

    def page(self, statuses: Sequence[str] = (), limit: int = 50, offset: int = 0
             ) -> tuple[list[Job], int]:
        """Return a page of jobs, newest first, and how many match in all."""
        where, args = "", list(statuses)
        if statuses:
            where = f"WHERE status IN ({', '.join('?' * len(statuses))})"
        with self._lock:
            (total,) = self._db.execute(f"SELECT count(*) FROM jobs {where}", args).fetchone()
            rows = self._db.execute(
                f"SELECT * FROM jobs {where} ORDER BY seq DESC LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
        return [Job.from_row(r) for r in rows], int(total)

    def products(self, limit: int = 50, offset: int = 0) -> tuple[list[Job], int]:
        """Return a page of successful jobs, most recently finished first, and their count."""
        with self._lock:
            (total,) = self._db.execute(
                f"SELECT count(*) FROM jobs WHERE status = '{JobStatus.SUCCESSFUL}'").fetchone()
            rows = self._db.execute(
                f"SELECT * FROM jobs WHERE status = '{JobStatus.SUCCESSFUL}' "
                "ORDER BY finished DESC, seq DESC LIMIT ? OFFSET ?", (limit, offset),
            ).fetchall()
        return [Job.from_row(r) for r in rows], int(total)

    def product_job(self, product_id: str) -> Job | None:
        """Return the successful job whose product is ``product_id``, or None."""
        return self._one(
            f"SELECT * FROM jobs WHERE product_id = ? AND status = '{JobStatus.SUCCESSFUL}'",
            (product_id,))

    # -- transitions --------------------------------------------------------------------

    def start(self, job_id: str) -> Job | None:
        """Move an accepted job to running; None when it is no longer accepted."""
        stamp = now()
        rows = self._execute(
            f"UPDATE jobs SET status = '{JobStatus.RUNNING}', started = ?, updated = ?, "
            "progress = 0, message = 'starting', attempts = attempts + 1 "
            f"WHERE id = ? AND status = '{JobStatus.ACCEPTED}' RETURNING *", (stamp, stamp, job_id),
        )
        return Job.from_row(rows[0]) if rows else None

    def progress(self, job_id: str, progress: int, message: str) -> None:
        """Record the progress of a running job."""
        self._execute(
            "UPDATE jobs SET progress = ?, message = ?, updated = ? "
            f"WHERE id = ? AND status = '{JobStatus.RUNNING}'",
            (max(0, min(100, progress)), message, now(), job_id),
        )

    def finish(self, job_id: str, status: JobStatus, message: str) -> bool:
        """Move a running job to a final (or back to the accepted) state.

        Returns:
            False when the job was not running any more (dismissed meanwhile).

        """
        if status not in (*FINAL, JobStatus.ACCEPTED):
            raise ValueError(f"a running job cannot become {status!r}")
        stamp = now()
        if status == JobStatus.ACCEPTED:
            # Back in the queue after a graceful shutdown: not an attempt that crashed.
            sql = (f"UPDATE jobs SET status = '{JobStatus.ACCEPTED}', message = ?, updated = ?, "
                   "started = NULL, progress = 0, attempts = max(attempts - 1, 0) "
                   f"WHERE id = ? AND status = '{JobStatus.RUNNING}'")
            args: tuple[Any, ...] = (message, stamp, job_id)
        else:
            progress = "100" if status == JobStatus.SUCCESSFUL else "progress"
            sql = (f"UPDATE jobs SET status = ?, message = ?, updated = ?, finished = ?, "
                   f"progress = {progress} WHERE id = ? AND status = '{JobStatus.RUNNING}'")
            args = (status, message, stamp, stamp, job_id)
        return bool(self._execute(sql + " RETURNING id", args))

    def dismiss(self, job_id: str, message: str = "dismissed by the client"
                ) -> tuple[Job, JobStatus] | None:
        """Dismiss a job whatever its state.

        Returns:
            (the job after dismissal, its status before), or None for an unknown id.

        """
        stamp = now()
        with self._transaction() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            before = JobStatus(row["status"])
            if before != JobStatus.DISMISSED:
                db.execute(
                    f"UPDATE jobs SET status = '{JobStatus.DISMISSED}', message = ?, updated = ?, "
                    "finished = ? WHERE id = ?", (message, stamp, stamp, job_id),
                )
                row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.from_row(row), before

    def recover(self) -> tuple[list[str], list[str]]:
        """After a start: re-queue the jobs a crash left running, fail those tried too often.

        Returns:
            (ids to queue again, oldest first, including jobs that were still accepted;
            ids failed because they were interrupted ``MAX_ATTEMPTS`` times).

        """
        stamp = now()
        with self._transaction() as db:
            failed = [r["id"] for r in db.execute(
                f"SELECT id FROM jobs WHERE status = '{JobStatus.RUNNING}' AND attempts >= ?",
                (MAX_ATTEMPTS,))]
            db.execute(
                f"UPDATE jobs SET status = '{JobStatus.FAILED}', finished = ?, updated = ?, "
                "message = ? "
                f"WHERE status = '{JobStatus.RUNNING}' AND attempts >= ?",
                (stamp, stamp, f"{INTERRUPTED_FAILURE}{MAX_ATTEMPTS} server restarts; not retried",
                 MAX_ATTEMPTS),
            )
            db.execute(
                f"UPDATE jobs SET status = '{JobStatus.ACCEPTED}', started = NULL, progress = 0, "
                "updated = ?, message = 'queued again after a server restart' "
                f"WHERE status = '{JobStatus.RUNNING}'", (stamp,),
            )
            queued = [r["id"] for r in db.execute(
                f"SELECT id FROM jobs WHERE status = '{JobStatus.ACCEPTED}' ORDER BY seq")]
        return queued, failed
