"""A pids cgroup per run: the process limit when the engine runs as root.

The kernel does not apply RLIMIT_NPROC to processes whose real uid is root, and a bubblewrap sandbox
started by root maps the candidate's uid to root outside the sandbox. So when the engine runs as
root, the number of processes of one run is capped with a pids cgroup instead: the parent creates
``<its own cgroup>/treesearch-sandbox/run-<pid>-<n>`` with ``pids.max``, opens its ``cgroup.procs``
and passes that descriptor into the sandbox; the harness writes ``0`` to it (moving itself in) and
closes it before the candidate runs, so everything the candidate starts is counted. Afterwards the
parent kills whatever is left in the cgroup and removes it.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path

GROUP = "treesearch-sandbox"


class RunCgroup:
    """The cgroup of one run: ``fd`` goes to the harness (write-only ``cgroup.procs``)."""

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path = path
        self.fd = fd

    @classmethod
    def create(cls, path: Path, max_pids: int) -> RunCgroup:
        path.mkdir()
        try:
            (path / "pids.max").write_text(str(max_pids))
            return cls(path, os.open(path / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC))
        except OSError:
            path.rmdir()
            raise

    def kill_all(self) -> None:
        """SIGKILL every process in the cgroup, until none is left (a fork bomb races the reading)."""
        for _ in range(50):
            try:
                pids = [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
            except OSError:
                return
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.001)

    def remove(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.kill_all()
        for _ in range(100):  # killed processes leave the cgroup a moment after SIGKILL
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.002)


class PidsCgroups:
    """Where this process may create pids cgroups; see :meth:`find`."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._numbers = itertools.count()

    @classmethod
    def find(cls) -> PidsCgroups | None:
        """The pids hierarchy below this process's own cgroup, if this process can create cgroups
        there (root, a pids controller mounted writable); else None."""
        directory = _own_pids_cgroup()
        if directory is None:
            return None
        base = directory / GROUP
        try:
            base.mkdir(exist_ok=True)
            if not (base / "pids.max").exists():
                (directory / "cgroup.subtree_control").write_text("+pids")  # cgroup v2 only
            found = cls(base)
            found._remove_stale()
            found.create(8).remove()
        except OSError:
            return None
        return found

    def create(self, max_pids: int) -> RunCgroup:
        return RunCgroup.create(self.base / f"run-{os.getpid()}-{next(self._numbers)}", max_pids)

    def _remove_stale(self) -> None:
        """Cgroups left by engines that were killed before they could clean up."""
        for path in self.base.glob("run-*-*"):
            pid = path.name.split("-")[1]
            if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
                RunCgroup(path, None).remove()


def _own_pids_cgroup() -> Path | None:
    """The directory of this process's cgroup in the hierarchy that has the pids controller."""
    try:
        own = {}
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                own[controller] = path
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except (OSError, ValueError):
        return None
    for line in mounts:
        fields = line.split()
        dash = fields.index("-")
        root, mount_point, fstype, options = fields[3], fields[4], fields[dash + 1], fields[dash + 3]
        if fstype == "cgroup" and "pids" in options.split(","):
            path = own.get("pids")
        elif fstype == "cgroup2":
            path = own.get("")
        else:
            continue
        if path is None or not (path + "/").startswith(root.rstrip("/") + "/"):
            continue
        directory = Path(mount_point) / path[len(root.rstrip("/")):].lstrip("/")
        try:
            if fstype == "cgroup2" and "pids" not in (directory / "cgroup.controllers").read_text().split():
                continue
        except OSError:
            continue
        return directory
    return None
