"""The send journal: what a bulk send did to each recipient, kept durably, so a rerun resumes it.

A bulk send that is interrupted, killed or loses answers must never mail anyone twice, and
must not forget anyone either.  The journal is one SQLite file per send (stdlib ``sqlite3``,
WAL): one row per recipient with its state — ``Pending``, ``InFlight`` (written durably *before*
its request leaves) and then its outcome (``Success``, ``Unknown``, a refusal code, ``NotSent``,
``Duplicate``).  A rerun reads it back: accepted recipients are not sent again, recipients in
doubt are left alone, the rest are sent.

Why the writes are batched, and what that costs in doubt: a commit that survives a kill needs
the disk (``synchronous=FULL``), a few milliseconds, far too slow per message at 1,000 a second.
So the sender *claims* rows in batches (:meth:`Journal.commit` marks a batch ``InFlight`` and, in
the same transaction, writes every outcome known since the last commit).  At any instant the
rows marked ``InFlight`` in the file are at most the rows of the last claim plus those being
sent: after a kill at any moment, at most ``concurrency + one claim batch`` rows are in doubt
(:func:`doubt_bound`), and they are exactly the rows a rerun reports as ``Unknown``.

The files are private (0600, in a 0700 folder): they hold every recipient's address.  One
process at a time may use a journal (an exclusive lock next to it), so two runs of the same
task cannot both resume one send.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from .common import MailError

__all__ = [
    "DONE_STATUSES",
    "IN_FLIGHT",
    "PENDING",
    "Journal",
    "JournalRow",
    "SendInfo",
    "default_journal_dir",
    "doubt_bound",
    "find_send",
    "forget_send",
    "journal_path",
    "list_sends",
    "send_key",
    "send_lock",
]

#: a row not sent yet, and a row whose request is (or may be) out
PENDING: Final = "Pending"
IN_FLIGHT: Final = "InFlight"
#: the statuses of a row that is done for good: a send whose rows all have one is *finished*
DONE_STATUSES: Final = frozenset({"Success", "AlreadySent", "Duplicate"})
#: the file format; a journal from a newer amlses is refused rather than misread
SCHEMA_VERSION: Final = 1
_SUFFIX: Final = ".sqlite"
#: how long a claim batch is, in seconds of sending: the bound on rows in doubt after a kill
CLAIM_SECONDS: Final = 0.1
#: the most rows one claim marks in flight
MAX_CLAIM_ROWS: Final = 200
#: the largest journal file opened (a million recipients take ~150 MB)
MAX_JOURNAL_BYTES: Final = 2_000_000_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    key TEXT PRIMARY KEY,
    row INTEGER NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL,
    message_id TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    updated REAL NOT NULL
);
"""


def default_journal_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where journals live: ``AMLSES_JOURNAL_DIR``, else the user's state folder.

    ``$XDG_STATE_HOME/amlses/journal`` (default ``~/.local/state/amlses/journal``) on POSIX
    systems, ``%LOCALAPPDATA%\\amlses\\journal`` on Windows — the places meant for state that
    outlives a run but is no user document.
    """
    env = os.environ if environ is None else environ
    given = env.get("AMLSES_JOURNAL_DIR", "").strip()
    if given:
        return Path(given).expanduser()
    if sys.platform == "win32":
        base = env.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "amlses" / "journal"
    base = env.get("XDG_STATE_HOME", "").strip() or str(Path.home() / ".local" / "state")
    return Path(base) / "amlses" / "journal"


def send_key(parts: Mapping[str, object]) -> str:
    """The identity of a send: a digest of what makes two sends "the same" (task file, step and
    message, or a campaign's name), 16 hex digits, the start of its journal's file name."""
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def doubt_bound(concurrency: int, claim_rows: int) -> int:
    """How many rows can be in doubt after a kill at any instant (see the module's docstring)."""
    return concurrency + claim_rows


def claim_size(rate: float, per_call: int) -> int:
    """Calls per claim: :data:`CLAIM_SECONDS` of sending at ``rate``, at most
    :data:`MAX_CLAIM_ROWS` rows, at least one call."""
    rows = MAX_CLAIM_ROWS if rate == float("inf") else min(rate * CLAIM_SECONDS, MAX_CLAIM_ROWS)
    return max(1, int(rows // max(per_call, 1)))


@dataclass(frozen=True, slots=True)
class JournalRow:
    """One recipient as the journal has it."""

    key: str
    row: int
    recipient: str
    status: str
    message_id: str
    error: str


@dataclass(frozen=True)
class SendInfo:
    """One send, as ``amlses journal list`` shows it."""

    id: str
    path: Path
    meta: dict[str, str]
    counts: dict[str, int]
    updated: float

    @property
    def finished(self) -> bool:
        """Whether every row is done for good (see :data:`DONE_STATUSES`)."""
        return self.meta.get("finished") == "yes"

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def journal_path(folder: Path, key: str, *, reuse_finished: bool = False) -> Path:
    """The journal of send ``key`` in ``folder``: its newest one if that is still open (or
    ``reuse_finished``, for a campaign), else the path of a new one.

    A finished send run again is a new send (that is what running a task means), so its
    journal is a new file: ``<key>-<n>.sqlite``, ``n`` counting up (a number, not the time:
    a clock set back must not make an open send look older than a finished one).  Call it
    holding :func:`send_lock`, so two processes cannot both start the same new send.
    """
    existing = _journals_of(folder, key)
    if existing:
        number, newest = existing[-1]
        if reuse_finished or _meta(newest).get("finished") != "yes":
            return newest
        return folder / f"{key}-{number + 1:04d}{_SUFFIX}"
    return folder / f"{key}-0001{_SUFFIX}"


def _journals_of(folder: Path, key: str) -> list[tuple[int, Path]]:
    """The journals of send ``key``, oldest first, by their number."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob(f"{key}-*{_SUFFIX}"):
        number = path.name[len(key) + 1 : -len(_SUFFIX)]
        if number.isdigit():
            found.append((int(number), path))
    return sorted(found)


@contextlib.contextmanager
def send_lock(folder: Path, key: str) -> Iterator[None]:
    """Hold the lock of send ``key`` (``<key>.lock`` in ``folder``) while it is chosen and run:
    a second process running the same send at the same time is refused (``JournalBusy``)
    instead of starting a journal of its own and mailing everyone too."""
    _private_folder(folder)
    handle = _lock(folder / key, what="this send")
    try:
        yield
    finally:
        handle.close()


def _meta(path: Path) -> dict[str, str]:
    """The meta table of a journal, read-only; empty if the file cannot be read."""
    try:
        with contextlib.closing(_connect(path, read_only=True)) as db:
            return dict(db.execute("SELECT name, value FROM meta").fetchall())
    except (sqlite3.Error, OSError):
        return {}


def _connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    _check_file(path)
    if read_only:
        return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
    return sqlite3.connect(path, check_same_thread=False, isolation_level=None)


def _check_file(path: Path) -> None:
    """A journal is a regular file of bounded size (every file amlses reads is)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if not path.is_file():
        raise MailError("JournalError", f"The journal {path} is not a regular file.")
    if info.st_size > MAX_JOURNAL_BYTES:
        raise MailError(
            "JournalError",
            f"The journal {path} is larger than {MAX_JOURNAL_BYTES:,} bytes; it is not read.",
        )


def _private_folder(folder: Path) -> None:
    """Create ``folder`` private (0700) when it does not exist.  An existing folder keeps its
    mode: it may be the current directory or a shared one, which amlses must not lock others
    out of; the journal files themselves are 0600 wherever they are."""
    if not folder.is_dir():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # mkdir's mode is filtered by the umask
            folder.chmod(0o700)


class Journal:
    """One send's journal file, open for writing by this process only.

    Thread-safe: the bulk sender's workers claim rows and record outcomes through one
    connection, behind one lock.  Outcomes are buffered and written with the next claim (or
    :meth:`flush`), in one transaction.
    """

    def __init__(self, path: Path, meta: Mapping[str, str] | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()  # the connection: one transaction at a time
        #: outcomes not written yet, behind a lock of their own: recording one never waits
        #: for a commit (the sender records under its own lock, and a commit takes milliseconds)
        self._outcomes: list[tuple[str, str, str, float, str]] = []
        self._outcomes_lock = threading.Lock()
        _private_folder(path.parent)
        self._lock_file = _lock(path)
        try:
            self.meta = self._open(path)
            if not self.meta:
                self.set_meta({"version": str(SCHEMA_VERSION), "created": _now(), **(meta or {})})
        except BaseException:
            self.close()
            raise

    def _open(self, path: Path) -> dict[str, str]:
        """Connect, check the format before writing anything, make the tables; the meta."""
        try:
            if not path.exists():
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            self._db = _connect(path)  # a regular file of bounded size (_check_file)
            if self._db.execute("SELECT 1 FROM sqlite_master WHERE name='meta'").fetchone():
                row = self._db.execute("SELECT value FROM meta WHERE name='version'").fetchone()
                version = row[0] if row else str(SCHEMA_VERSION)
                if not version.isdigit() or int(version) > SCHEMA_VERSION:
                    raise MailError(
                        "JournalError",
                        f"The journal {path} was written by a newer amlses (format {version}); "
                        "upgrade amlses to resume this send.",
                    )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            return dict(self._db.execute("SELECT name, value FROM meta").fetchall())
        except sqlite3.Error as error:
            raise MailError(
                "JournalError", f"The journal {path} cannot be used: {error}."
            ) from error

    # ---------------------------------------------------------------- reading

    def rows(self) -> dict[str, JournalRow]:
        """Every row by key."""
        cursor = self._db.execute("SELECT key, row, recipient, status, message_id, error FROM rows")
        return {r[0]: JournalRow(*r) for r in cursor}

    # ---------------------------------------------------------------- writing

    def set_meta(self, values: Mapping[str, str]) -> None:
        """Set send-wide facts, with the outcomes recorded so far (so "finished" is never
        written before the outcomes that make it true)."""
        with self._lock, self._transaction():
            self._write_outcomes()
            self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))
        self.meta.update(values)

    def add(self, rows: Iterable[tuple[str, int, str, str, str]]) -> None:
        """Add or reset rows: (key, row number, recipient, status, error); a row already in
        the journal takes the new row number, recipient and status."""
        now = time.time()
        with self._lock, self._transaction():
            self._db.executemany(
                "INSERT INTO rows (key, row, recipient, status, error, updated) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET row=excluded.row, "
                "recipient=excluded.recipient, status=excluded.status, error=excluded.error, "
                "updated=excluded.updated",
                ((k, n, r, s, e, now) for k, n, r, s, e in rows),
            )

    def record(self, key: str, status: str, message_id: str = "", error: str = "") -> None:
        """Remember a row's outcome; written with the next claim or :meth:`flush`."""
        with self._outcomes_lock:
            self._outcomes.append((status, message_id, error, time.time(), key))

    def claim(self, keys: Iterable[str]) -> None:
        """Mark ``keys`` in flight, durably, with every outcome recorded so far, in one
        transaction: after it returns, their requests may leave."""
        now = time.time()
        with self._lock, self._transaction():
            self._write_outcomes()
            self._db.executemany(
                "UPDATE rows SET status=?, updated=? WHERE key=?",
                ((IN_FLIGHT, now, key) for key in keys),
            )

    def flush(self) -> None:
        """Write the outcomes recorded since the last claim."""
        with self._lock, self._transaction():
            self._write_outcomes()

    def close(self) -> None:
        """Flush and close; the lock is released whatever happens.  Safe to call twice.

        A flush that fails here loses no recipient's safety: the rows not written stay
        ``InFlight``, which a rerun reports as in doubt and never resends.
        """
        try:
            db = getattr(self, "_db", None)
            if db is not None:
                with contextlib.suppress(sqlite3.Error, MailError):
                    self.flush()
                    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                with self._lock:
                    db.close()
                    del self._db
        finally:
            self._lock_file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _write_outcomes(self) -> None:
        """Write the outcomes recorded so far (in the caller's transaction).  Taken off the
        list first: if the transaction fails they are lost, and their rows stay ``InFlight``,
        which a rerun treats as in doubt — never as not sent."""
        with self._outcomes_lock:
            outcomes, self._outcomes = self._outcomes, []
        if outcomes:
            self._db.executemany(
                "UPDATE rows SET status=?, message_id=?, error=?, updated=? WHERE key=?",
                outcomes,
            )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            raise MailError(
                "JournalError",
                f"The journal {self.path} could not be written ({error}); the send stopped "
                "so that no recipient is mailed without a record.",
            ) from error


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _lock(path: Path, what: str = "") -> IO[bytes]:
    """An exclusive lock on ``<path>.lock``: one process per journal (and per send) at a time."""
    lock_path = path.with_name(path.name + ".lock")
    handle = open(  # noqa: SIM115 (held open while the journal is: the lock lives with it)
        os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600), "r+b"
    )
    try:
        _try_lock(handle)
    except OSError as error:
        handle.close()
        raise MailError(
            "JournalBusy",
            f"Another amlses process is running this send now ({what or f'its journal {path}'} "
            "is locked); wait for it to finish rather than mail the same recipients from two "
            "processes.",
        ) from error
    return handle


def _try_lock(handle: IO[bytes]) -> None:
    if sys.platform == "win32":
        import msvcrt

        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


# -------------------------------------------------------------------- the journal folder


def list_sends(folder: Path) -> list[SendInfo]:
    """Every send journaled in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    return [info for path in sorted(folder.glob(f"*{_SUFFIX}")) if (info := _info(path))]


def _info(path: Path) -> SendInfo | None:
    try:
        with contextlib.closing(_connect(path, read_only=True)) as db:
            meta = dict(db.execute("SELECT name, value FROM meta").fetchall())
            counts = dict(db.execute("SELECT status, COUNT(*) FROM rows GROUP BY status"))
            updated = db.execute("SELECT MAX(updated) FROM rows").fetchone()[0]
    except (sqlite3.Error, OSError, MailError):
        return None
    return SendInfo(path.stem, path, meta, counts, float(updated or 0.0))


def find_send(folder: Path, wanted: str) -> SendInfo:
    """The send whose id is ``wanted`` or starts with it (ids are long); one clear error if
    none or several match."""
    sends = [s for s in list_sends(folder) if s.id.startswith(wanted.strip())]
    exact = [s for s in sends if s.id == wanted.strip()]
    if exact:
        return exact[0]
    if len(sends) == 1 and wanted.strip():
        return sends[0]
    if not sends:
        raise MailError(
            "NoSuchSend",
            f'No send "{wanted}" in the journal folder {folder} (`amlses journal list` '
            "shows the sends).",
        )
    raise MailError(
        "AmbiguousSend",
        f'"{wanted}" starts {len(sends)} send ids; give more of it: '
        + ", ".join(s.id for s in sends[:5]),
    )


def read_rows(info: SendInfo) -> list[JournalRow]:
    """Every row of a send, in row order."""
    with contextlib.closing(_connect(info.path, read_only=True)) as db:
        cursor = db.execute(
            "SELECT key, row, recipient, status, message_id, error FROM rows ORDER BY row, key"
        )
        return [JournalRow(*r) for r in cursor]


def forget_send(info: SendInfo) -> None:
    """Delete a send's journal (and its WAL and shared-memory files), holding its lock, so a
    process running the send meanwhile is refused rather than left writing a deleted file."""
    handle = _lock(info.path)  # refuses while another process runs the send
    try:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                info.path.with_name(info.path.name + suffix).unlink()
    finally:
        handle.close()
    with contextlib.suppress(FileNotFoundError):
        info.path.with_name(info.path.name + ".lock").unlink()
