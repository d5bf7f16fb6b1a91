"""Pids cgroups: the process limit when the engine runs as root.

The kernel does not apply RLIMIT_NPROC to processes whose real uid is root, and a bubblewrap sandbox
started by root maps the candidate's uid to root outside the sandbox. So when the engine runs as
root, the number of processes of one run is capped with a pids cgroup (cgroup v1) instead.

Moving a process into a cgroup costs a few milliseconds of RCU synchronisation that also stalls
every fork on the machine, too much to do per run. Instead, each worker thread that starts sandboxes
moves *itself* into its own cgroup once (cgroup v1 places threads individually): a child inherits
the cgroup of the thread that forked it, so every sandbox the thread starts, and everything the
candidate starts, is counted against that cgroup's ``pids.max`` with no migration per run. A thread
runs one sandbox at a time, so the cgroup holds one run (plus the thread itself).
"""

from __future__ import annotations

import atexit
import functools
import itertools
import os
import signal
import threading
import time
from pathlib import Path

GROUP = "treesearch-sandbox"


class SlotCgroup:
    """The cgroup of one worker thread of this engine."""

    def __init__(self, path: Path, thread: threading.Thread | None = None) -> None:
        self.path = path
        self.thread = thread  # the worker thread that lives in it; None once retired
        self.max_pids: int | None = None

    def prepare(self, max_pids: int) -> bool:
        """Before a run: nothing left of the previous one, and room for ``max_pids`` processes.
        False if killed processes of an earlier run still count (zombies that the host's pid 1 has
        not reaped yet) after a moment: then the thread needs a fresh cgroup."""
        if max_pids != self.max_pids:
            (self.path / "pids.max").write_text(str(max_pids + 1))  # + the engine's thread itself
            self.max_pids = max_pids
        for attempt in range(50):
            if self.count() <= 1:
                return True
            if attempt == 0:
                self.kill_all()
            time.sleep(0.002)
        return False

    def count(self) -> int:
        """Processes counted against the cgroup (the engine's thread included)."""
        return int((self.path / "pids.current").read_text())

    def kill_all(self) -> None:
        """SIGKILL every process in the cgroup but the engine, until none is left (a fork bomb
        races the reading)."""
        me = os.getpid()
        for _ in range(100):
            try:
                pids = [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
            except OSError:
                return
            pids = [p for p in pids if p != me]
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.001)

    def remove(self) -> bool:
        """Once no thread of the engine is in it any more; False if it is still busy."""
        self.kill_all()
        for _ in range(25):  # killed processes leave the cgroup a moment after SIGKILL
            try:
                self.path.rmdir()
                return True
            except FileNotFoundError:
                return True
            except OSError:
                time.sleep(0.002)
        return False


class PidsCgroups:
    """The pids cgroups of this engine's worker threads; see :meth:`find`."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._numbers = itertools.count()
        self._local = threading.local()
        self._slots: list[SlotCgroup] = []
        self._lock = threading.Lock()
        atexit.register(self.remove_ended)  # runs after executors joined their threads

    @classmethod
    @functools.cache
    def find(cls) -> PidsCgroups | None:
        """Pids cgroups below this process's own cgroup (v1), if this process may create them and
        place its threads in them (root, the pids controller mounted writable); else None. One per
        process: a thread is in one cgroup of a hierarchy at a time."""
        directory = _own_pids_cgroup()
        if directory is None:
            return None
        base = directory / GROUP
        try:
            base.mkdir(exist_ok=True)
            found = cls(base)
            found._remove_stale()
            probe = SlotCgroup(base / f"probe-{os.getpid()}")
            probe.path.mkdir()
            try:
                (probe.path / "pids.max").write_text("8")
            finally:
                probe.remove()
        except OSError:
            return None
        return found

    def ready(self, max_pids: int) -> SlotCgroup | None:
        """This thread's cgroup, prepared for a run of at most ``max_pids`` processes: created and
        joined on the thread's first run, and replaced when the previous run's dead still count.

        None on the main thread: it stays where it is, because everything it starts later (git, a
        browser, another tool) would inherit the cap. :class:`Sandbox` runs sandboxes on its worker
        threads; only direct callers of the runner on the main thread go without the cgroup."""
        if threading.current_thread() is threading.main_thread():
            return None
        slot = getattr(self._local, "slot", None)
        if slot is None or not slot.prepare(max_pids):
            if slot is not None:
                slot.thread = None  # retired; the thread moves to a new cgroup below
            slot = SlotCgroup(self.base / f"slot-{os.getpid()}-{next(self._numbers)}", threading.current_thread())
            slot.path.mkdir()
            (slot.path / "tasks").write_text(str(threading.get_native_id()))
            slot.prepare(max_pids)
            self._local.slot = slot
            with self._lock:
                self._slots.append(slot)
        return slot

    def remove_ended(self) -> None:
        """Remove the cgroups that no live thread uses any more (a live one may be running a sandbox);
        one that still holds unreaped processes stays for a later call, or for the next engine."""
        with self._lock:
            for slot in [s for s in self._slots if s.thread is None or not s.thread.is_alive()]:
                if slot.remove():
                    self._slots.remove(slot)

    def _remove_stale(self) -> None:
        """Cgroups left by engines that were killed before they could clean up."""
        for path in self.base.iterdir():
            pid = path.name.split("-")[1] if path.name.count("-") >= 1 else ""
            if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
                SlotCgroup(path).remove()


def _own_pids_cgroup() -> Path | None:
    """The directory of this process's cgroup in the cgroup v1 hierarchy with the pids controller."""
    try:
        own = {}
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(","):
                own[controller] = path
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except (OSError, ValueError):
        return None
    path = own.get("pids")
    if path is None:
        return None
    for line in mounts:
        fields = line.split()
        dash = fields.index("-")
        root, mount_point, fstype, options = fields[3], fields[4], fields[dash + 1], fields[dash + 3]
        if fstype == "cgroup" and "pids" in options.split(",") and (path + "/").startswith(root.rstrip("/") + "/"):
            return Path(mount_point) / path[len(root.rstrip("/")):].lstrip("/")
    return None
