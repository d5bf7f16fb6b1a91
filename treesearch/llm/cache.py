"""The completion cache: SQLite, keyed by model, messages, parameters *and sample index*, so a re-run
replays a search without paying while k samples stay k different samples.

Within one client, asking the same request again continues its sample sequence, as a live model
samples anew: the first ``n=3`` gets samples 0-2, a second identical ``n=2`` gets 3-4. A new client
(a re-run) starts again at 0 and replays them in the same order.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)


def default_cache_path() -> Path:
    """``$XDG_CACHE_HOME/treesearch/llm_cache.sqlite`` (``~/.cache`` when XDG_CACHE_HOME is unset)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "treesearch" / "llm_cache.sqlite"


def cache_key(model: str, messages: list[dict], params: dict, seed: int = 0) -> str:
    """The request's identity without ``n``, at the search's ``seed``: sample i of any request with
    this key is the same sample."""
    request = {"model": model, "messages": messages, "params": params}
    if seed:  # seed 0 keeps the keys caches were filled with before seeds entered them
        request["seed"] = seed
    payload = orjson.dumps(request, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()


class LLMCache:
    """Completions in SQLite, one row per (request key, sample index), values in orjson.

    Safe with concurrent writers: WAL journal, a busy timeout, one connection per thread and process.
    The first writer of a sample wins (``INSERT OR IGNORE``). A corrupt file is reported with a
    warning and renamed to ``<name>.corrupt-<timestamp>``; a fresh cache takes its place. The cache
    never fails a call: a database it cannot use turns into misses.
    """

    BUSY_TIMEOUT_S = 10.0

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._generation = 0  # bumped when the file is set aside: every thread reconnects

    def get(self, key: str, first: int, stop: int) -> dict[int, dict]:
        """The stored samples with first <= index < stop, by index."""
        rows = self._run(
            lambda db: db.execute(
                "SELECT sample, value FROM completions WHERE key = ? AND sample >= ? AND sample < ?", (key, first, stop)
            ).fetchall()
        )
        return {sample: orjson.loads(value) for sample, value in rows or []}

    def put(self, key: str, samples: dict[int, dict]) -> None:
        rows = [(key, index, orjson.dumps(value)) for index, value in samples.items()]
        self._run(lambda db: db.executemany("INSERT OR IGNORE INTO completions VALUES (?, ?, ?)", rows))

    def __len__(self) -> int:
        rows = self._run(lambda db: db.execute("SELECT COUNT(*) FROM completions").fetchall())
        return rows[0][0] if rows else 0

    def _run(self, operation: Callable[[sqlite3.Connection], Any]) -> Any:
        for _ in range(2):  # a second try on a fresh file after setting a corrupt one aside
            try:
                return operation(self._connection())
            except sqlite3.OperationalError as exc:  # locked past the timeout, unwritable, disk full
                log.warning("LLM cache %s unavailable for this call: %s", self.path, exc)
                return None
            except sqlite3.DatabaseError as exc:  # "file is not a database", "disk image is malformed"
                self._set_aside(exc)
        return None

    def _connection(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "db", None) is not None and local.identity == (self._generation, os.getpid()):
            return local.db
        self.path.parent.mkdir(parents=True, exist_ok=True)
        local.inode = None
        db = sqlite3.connect(self.path, timeout=self.BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        local.db, local.identity = db, (self._generation, os.getpid())
        local.inode = os.stat(self.path).st_ino
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS completions"
            " (key TEXT NOT NULL, sample INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY (key, sample))"
        )
        return db

    def _set_aside(self, exc: Exception) -> None:
        with self._lock:
            local = self._local
            if getattr(local, "db", None) is not None:
                local.db.close()
                local.db = None
            try:
                inode = os.stat(self.path).st_ino
            except FileNotFoundError:
                inode = None
            # Only the file this thread found corrupt: another thread or process may already have
            # set it aside and started a fresh one at the same path.
            if inode is not None and inode == (getattr(local, "inode", None) or inode):
                target = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
                os.replace(self.path, target)
                for suffix in ("-wal", "-shm"):
                    side = self.path.with_name(self.path.name + suffix)
                    if side.exists():
                        os.replace(side, target.with_name(target.name + suffix))
                warnings.warn(
                    f"LLM cache {self.path} is corrupt ({exc}); moved it to {target} and started a fresh cache",
                    RuntimeWarning,
                    stacklevel=4,
                )
            self._generation += 1
