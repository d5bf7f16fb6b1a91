"""Isolation backends, and the start-up probe that picks one.

``bwrap`` (bubblewrap): each run is a fresh ``python -I -S`` in new user, pid, network, mount, ipc,
uts and cgroup namespaces. The file system is a read-only view of ``/usr`` (and ``/lib``...) and the
Python installation, nothing else of the host (no home directories, no ``/etc``, no project files or
test data), plus ``/dev/null``, ``zero``, ``random`` and ``urandom``, a ``/proc`` that shows only the
sandbox, and a private size-capped tmpfs at ``/tmp`` as the working directory. The harness is the pid
namespace's init, so everything the candidate starts dies with it, and ``--die-with-parent`` ties the
sandbox to the engine. The candidate runs as uid 65534 inside.

``rlimit``, the fallback where bubblewrap is missing or cannot create namespaces (in Docker, or where
user namespaces are restricted): the same launcher and harness with rlimits, a private temp dir as
working directory, a scrubbed environment and, when the engine is root and the interpreter is
readable by others, the uid ``nobody``. It does NOT isolate the network or the file system, and
under the engine's own uid a candidate can signal the engine's processes; the probe says so.

Both: the environment is built from scratch (nothing of the engine's, so no API keys or tokens),
rlimits are set by the harness itself, a root engine caps processes with a pids cgroup (see
``cgroup.py``), everything the run started is killed afterwards and its temp dir removed.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass

from treesearch.sandbox.cgroup import PidsCgroups, SlotCgroup
from treesearch.sandbox.limits import Limits

NOBODY = 65534
# The last argument of every sandboxed command: "treesearch-sandbox:<engine pid>-<run number>". The
# harness ignores it; it names the run's processes (and their forks) in `ps` and lets the rlimit
# backend find the ones that left the process group.
MARKER = "treesearch-sandbox:"
BACKENDS = ("auto", "bwrap", "rlimit")
SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The devices a program may need, bound one by one: a few mounts fewer than bwrap's --dev (tty, pts,
# shm), and mounts are much of what a sandbox costs to set up and tear down.
DEVICES = [arg for dev in ("null", "zero", "random", "urandom") for arg in ("--dev-bind", f"/dev/{dev}", f"/dev/{dev}")]
PROBE_SECONDS = 20.0


class SandboxError(RuntimeError):
    """The sandbox cannot do what was asked: no usable backend, or a malformed request."""


@dataclass
class Spawn:
    """Everything about one sandboxed process that the backend decides."""

    argv: list[str]
    env: dict[str, str]
    cwd: str | None
    uid: int | None  # the harness drops to this uid (rlimit backend as root)
    nproc: int | None  # the harness's RLIMIT_NPROC, None where it would not bind (uid root)
    marker: str
    cgroup: SlotCgroup | None = None
    tmpdir: str | None = None
    pass_fds: tuple[int, ...] = ()  # to keep open in the child (the parent closes them after the start)
    info_fd: int | None = None  # bubblewrap's --info-fd, read end
    init_pid: int | None = None  # the harness's pid outside the sandbox (bwrap), from info_fd


def python_executable() -> str:
    """The interpreter the sandbox runs by default: this one, resolved, so a venv's symlink is not
    needed inside."""
    return os.path.realpath(sys.executable)


def interpreter_roots(python: str) -> tuple[str, ...]:
    """The directories the interpreter ``python`` needs (its prefixes). It must be this engine's
    Python version: the harness travels as bytecode (checked by the bytecode magic number)."""
    if python == python_executable():
        return tuple(sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix)}))
    script = "import importlib.util,sys;print(importlib.util.MAGIC_NUMBER.hex());print(sys.base_prefix);print(sys.base_exec_prefix)"
    try:
        done = subprocess.run([python, "-I", "-S", "-c", script], capture_output=True, text=True,
                              timeout=PROBE_SECONDS, check=True)
    except (OSError, subprocess.SubprocessError) as e:
        raise SandboxError(f"cannot run the interpreter {python}: {e}") from e
    magic, *prefixes = done.stdout.split() or [""]
    if magic != importlib.util.MAGIC_NUMBER.hex() or not prefixes:
        raise SandboxError(f"{python} is not the engine's Python version ({sys.version.split()[0]}): "
                           "the harness is sent to it as bytecode")
    return tuple(sorted({os.path.realpath(p) for p in prefixes}))


def _environment(home: str) -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": home, "TMPDIR": home}


_run_numbers = itertools.count()


def _new_marker() -> str:
    return f"{MARKER}{os.getpid()}-{next(_run_numbers)}"


def marked_processes(marker: str | None = None) -> list[int]:
    """Pids of live processes with ``marker`` as an argument (by default: with any marker of this
    engine, that is, every sandboxed process it started that is still running)."""
    needle = b"\0" + (marker.encode() + b"\0" if marker else f"{MARKER}{os.getpid()}-".encode())
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    if needle in f.read():
                        found.append(int(entry.name))
            except OSError:
                pass
    return found


def _processes_of(uid: int) -> int:
    """How many processes ``uid`` has now (RLIMIT_NPROC counts them all, not just the run's)."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


class Backend:
    """Starts the harness in isolation and cleans up after it."""

    name: str

    def __init__(self, python: str, pids: PidsCgroups | None) -> None:
        self.python = python
        self.pids = pids
        self.warnings: tuple[str, ...] = ()

    def spawn(self, command: list[str], limits: Limits, workdir: str | None = None,
              read_only: tuple[str, ...] = ()) -> Spawn:
        """How to start ``command`` under ``limits``: in a fresh temporary directory, or in
        ``workdir`` (writable) with the ``read_only`` paths visible where the backend hides the
        file system."""
        raise NotImplementedError

    def kill(self, proc: subprocess.Popen, spawn: Spawn) -> None:
        """Stop the run now: the process, and everything it started."""
        raise NotImplementedError

    def cleanup(self, spawn: Spawn) -> None:
        """After the run: nothing of it is left running and its temp dir is gone."""
        if spawn.tmpdir is not None:
            _remove_tree(spawn.tmpdir)

    def _cgroup(self, limits: Limits) -> SlotCgroup | None:
        """The calling thread's pids cgroup (root engines), ready for a run: see ``cgroup.py``."""
        return self.pids.ready(limits.processes) if self.pids is not None else None

    def _nproc(self, uid_outside: int, own_user_namespace: bool, limits: Limits) -> int | None:
        if uid_outside == 0:
            return None  # the kernel exempts root; the pids cgroup is the limit
        if own_user_namespace:
            return limits.processes  # counted per user namespace: only this run's processes
        return _processes_of(uid_outside) + limits.processes

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class BwrapBackend(Backend):
    name = "bwrap"

    def __init__(
        self, python: str, pids: PidsCgroups | None, bwrap: str, user_namespace: bool, sized_tmpfs: bool
    ) -> None:
        super().__init__(python, pids)
        self.bwrap = bwrap
        self.user_namespace = user_namespace
        self.sized_tmpfs = sized_tmpfs
        self.mounts = _read_only_mounts(python, interpreter_roots(python))

    def spawn(self, command: list[str], limits: Limits, workdir: str | None = None,
              read_only: tuple[str, ...] = ()) -> Spawn:
        tmpdir = None
        if self.sized_tmpfs:
            tmp = ["--size", str(limits.file_size_mb << 20), "--tmpfs", "/tmp"]
        else:  # bubblewrap older than 0.8 cannot size a tmpfs; a host dir is bounded by the disk only
            tmpdir = tempfile.mkdtemp(prefix="treesearch-sandbox-")
            tmp = ["--bind", tmpdir, "/tmp"]
        user = ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)] if self.user_namespace else []
        marker = _new_marker()
        info_read, info_write = os.pipe()
        # --as-pid-1: the harness is the namespace's init, so when it exits the kernel kills and reaps
        # everything else in the namespace before bwrap sees it exit (a bwrap init would be orphaned
        # instead, and hosts whose pid 1 does not reap would collect zombies); signals the candidate
        # sends to it from inside are ignored, as for any init.
        # Bind mounts are mounts of their own, so they keep their mode when the root is made read-only.
        binds = [arg for path in read_only if os.path.exists(path) for arg in ("--ro-bind", path, path)]
        if workdir is not None:
            binds += ["--bind", workdir, workdir]
        argv = [
            self.bwrap, "--unshare-all", *user, "--die-with-parent", "--new-session", "--as-pid-1",
            "--info-fd", str(info_write), *self.mounts, *DEVICES, "--proc", "/proc", *tmp, *binds,
            "--remount-ro", "/", "--chdir", workdir or "/tmp", "--", *command, marker,
        ]
        return Spawn(
            argv=argv, env=_environment("/tmp"), cwd=None, uid=None, marker=marker,
            nproc=self._nproc(os.getuid(), self.user_namespace, limits),
            cgroup=self._cgroup(limits), tmpdir=tmpdir, pass_fds=(info_write,), info_fd=info_read,
        )

    def kill(self, proc: subprocess.Popen, spawn: Spawn) -> None:
        """Kill the sandbox's init (the harness): the kernel takes the namespace down with it and
        bwrap, which reaps it, exits. Killing bwrap first would orphan the init (--die-with-parent
        still kills it, but nobody reaps it where pid 1 does not)."""
        init = self._init_pid(spawn)
        if init is not None:
            try:
                os.kill(init, signal.SIGKILL)
                proc.wait(timeout=5)
                return
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        proc.kill()

    def cleanup(self, spawn: Spawn) -> None:
        if spawn.info_fd is not None:
            os.close(spawn.info_fd)
            spawn.info_fd = None
        super().cleanup(spawn)

    @staticmethod
    def _init_pid(spawn: Spawn) -> int | None:
        """From bubblewrap's info ({"child-pid": N, ...}), written as soon as the sandbox exists."""
        if spawn.init_pid is None and spawn.info_fd is not None:
            os.set_blocking(spawn.info_fd, False)
            try:
                info = json.loads(os.read(spawn.info_fd, 1 << 16) or b"{}")
                spawn.init_pid = int(info["child-pid"])
            except (BlockingIOError, ValueError, KeyError, TypeError):
                pass
        return spawn.init_pid


class RlimitBackend(Backend):
    name = "rlimit"

    def __init__(self, python: str, pids: PidsCgroups | None, uid: int | None) -> None:
        super().__init__(python, pids)
        self.uid = uid

    def spawn(self, command: list[str], limits: Limits, workdir: str | None = None,
              read_only: tuple[str, ...] = ()) -> Spawn:
        tmpdir = tempfile.mkdtemp(prefix="treesearch-sandbox-")
        uid_outside = self.uid if self.uid is not None else os.getuid()
        marker = _new_marker()
        return Spawn(  # read_only needs nothing here: this backend does not hide the file system
            argv=[*command, marker], env=_environment(tmpdir), cwd=workdir or tmpdir, uid=self.uid, marker=marker,
            nproc=self._nproc(uid_outside, False, limits), cgroup=self._cgroup(limits), tmpdir=tmpdir,
        )

    def kill(self, proc: subprocess.Popen, spawn: Spawn) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # spawned with start_new_session: pgid == pid
        except (ProcessLookupError, PermissionError):
            pass
        self._kill_leftovers(spawn)

    def cleanup(self, spawn: Spawn) -> None:
        self._kill_leftovers(spawn)
        super().cleanup(spawn)

    def _kill_leftovers(self, spawn: Spawn) -> None:
        """Processes that left the process group (setsid, double fork) still carry the run's marker
        in their command line, unless they replaced it with exec; the pids cgroup (root) has those too."""
        if spawn.cgroup is not None:
            spawn.cgroup.kill_all()
        for _ in range(20):
            pids = marked_processes(spawn.marker)
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


def _remove_tree(path: str) -> None:
    def make_writable_and_retry(func, p, _exc):  # the candidate may have chmod-ed things away
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=make_writable_and_retry)


def _read_only_mounts(python: str, prefixes: tuple[str, ...]) -> list[str]:
    """bwrap arguments for a minimal read-only view: /usr, the /lib-style dirs, the Python install."""
    args = ["--ro-bind", "/usr", "/usr"]
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    roots = {*prefixes, os.path.dirname(python)}
    for root in sorted(roots):
        covered = root == "/usr" or root.startswith("/usr/") or any(
            root != other and root.startswith(other + "/") for other in roots
        )
        if not covered:
            args += ["--ro-bind", root, root]
    return args


# -------------------------------------------------------------------------------------------------
# The probe.

_PROBE_CODE = "import posix{drop}; import json; posix.write(1, b'sandbox-ok')"


def _works(backend: Backend, drop_uid: int | None = None) -> str | None:
    """None if ``backend`` can start the interpreter (and import from its standard library, after
    dropping to ``drop_uid``); otherwise what went wrong."""
    drop = f"; posix.setgroups([]); posix.setgid({drop_uid}); posix.setuid({drop_uid})" if drop_uid else ""
    command = [backend.python, "-I", "-S", "-c", _PROBE_CODE.format(drop=drop)]
    spawn = backend.spawn(command, Limits())
    try:
        done = subprocess.run(
            spawn.argv, env=spawn.env, cwd=spawn.cwd, capture_output=True, timeout=PROBE_SECONDS,
            start_new_session=True, pass_fds=spawn.pass_fds,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{backend.name}: {e}"
    finally:
        for fd in spawn.pass_fds:
            os.close(fd)
        backend.cleanup(spawn)
    if done.stdout == b"sandbox-ok":
        return None
    message = done.stderr.decode("utf-8", "replace").strip().splitlines()
    return f"{backend.name}: {message[-1] if message else f'exit status {done.returncode}'}"


def probe_backend(preferred: str = "auto", python: str | None = None) -> Backend:
    """The backend to use: bubblewrap if it works here (unless ``preferred`` is "rlimit"), else the
    rlimit fallback, whose ``warnings`` say what it does not isolate. ``python``: the interpreter
    that runs candidates (default: the engine's own; another must be the same Python version).
    Probed once per process for each choice."""
    if preferred not in BACKENDS:
        raise SandboxError(f"unknown sandbox backend {preferred!r}; choose from {', '.join(BACKENDS)}")
    with _probing:  # one probe at a time: backends share this process's pids cgroups
        return _probe(preferred, os.path.realpath(python) if python else python_executable())


_probing = threading.Lock()


@functools.cache
def _probe(preferred: str, python: str) -> Backend:
    pids = PidsCgroups.find() if os.geteuid() == 0 else None
    problems = []
    if preferred in ("auto", "bwrap"):
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            problems.append("bubblewrap (bwrap) is not installed")
        else:
            for user_namespace in (True, False):
                for sized_tmpfs in (True, False):
                    candidate = BwrapBackend(python, None, bwrap, user_namespace, sized_tmpfs)
                    problem = _works(candidate)
                    if problem is None:
                        backend = BwrapBackend(python, pids, bwrap, user_namespace, sized_tmpfs)
                        backend.warnings = _process_limit_warnings(backend)
                        return backend
                    problems.append(problem)
        if preferred == "bwrap":
            raise SandboxError("the bwrap sandbox backend cannot run here: " + "; ".join(dict.fromkeys(problems)))
    uid = None
    if os.geteuid() == 0 and _works(RlimitBackend(python, None, None), drop_uid=NOBODY) is None:
        uid = NOBODY
    backend = RlimitBackend(python, pids, uid)
    notes = ["the rlimit sandbox backend does not isolate the network or the file system"]
    if problems:
        notes.append("bubblewrap unavailable (" + "; ".join(dict.fromkeys(problems)) + ")")
    if os.geteuid() == 0 and uid is None:
        notes.append(
            f"candidates run as root: the interpreter ({python}) is not readable by uid {NOBODY}"
        )
    elif uid is None:
        notes.append("candidates run as the engine's own user and can signal the engine's processes")
    backend.warnings = tuple(notes) + _process_limit_warnings(backend)
    return backend


def _process_limit_warnings(backend: Backend) -> tuple[str, ...]:
    if os.geteuid() == 0 and backend.pids is None:
        return ("running as root without a writable pids cgroup: the number of processes a candidate "
                "starts is bounded only by the time limits",)
    return ()
