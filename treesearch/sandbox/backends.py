"""Isolation backends, and the start-up probe that picks one.

``bwrap`` (bubblewrap): each run is a fresh ``python -I -S`` in new user, pid, network, mount, ipc,
uts and cgroup namespaces. The file system is a read-only view of ``/usr`` (and ``/lib``...) and the
Python installation, nothing else of the host (no home directories, no ``/etc``, no project files or
test data), plus ``/dev/null``, ``zero``, ``random`` and ``urandom``, a ``/proc`` that shows only the
sandbox, and private size-capped tmpfs at ``/tmp`` (the working directory) and ``/dev/shm``. The harness is the pid
namespace's init, so everything the candidate starts dies with it, and ``--die-with-parent`` ties the
sandbox to the engine. The candidate runs as uid 65534 inside.

``rlimit`` (chosen as "unsafe-rlimit"), for where bubblewrap is missing or cannot create namespaces
(in Docker, or where user namespaces are restricted): the same launcher and harness with rlimits, a
private temp dir as working directory and a scrubbed environment, in the host's namespaces. What it
adds depends on the machine (see ``confine.py``): Landlock keeps the file system read-only and
visible only where bubblewrap shows it, writable only in the run's directory, blocks TCP (ABI 4) and
signals to anything outside the run (ABI 6); a seccomp filter refuses every socket but unix ones; a
root engine drops candidates to uid ``nobody``, on an interpreter that uid can read (the engine's own,
or a same-version one from the system), and refuses to run candidates as root at all. The backend's
``isolates`` and ``warnings`` say what holds here.

Choosing: "auto" is bubblewrap, and where bubblewrap cannot run, a :class:`SandboxError` saying why
and how to fix it, before any model is asked for code (fail closed): model-written code never runs
unisolated by default. Only code the caller vouches for (``trusted_code``: the simulated coder's
mutations of a problem's reference solution) falls back to the rlimit backend on its own; anything
else needs the explicit "unsafe-rlimit" (``--sandbox unsafe-rlimit``).

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
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from treesearch.sandbox import confine
from treesearch.sandbox.cgroup import PidsCgroups, SlotCgroup
from treesearch.sandbox.limits import Limits

NOBODY = 65534
PYTHON_VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"
# The last argument of every sandboxed command: "treesearch-sandbox:<engine pid>-<run number>". The
# harness ignores it; it names the run's processes (and their forks) in `ps` and lets the rlimit
# backend find the ones that left the process group.
MARKER = "treesearch-sandbox:"
# "rlimit" is the old name of "unsafe-rlimit", still accepted from Python.
CHOICES = ("auto", "bwrap", "unsafe-rlimit")
BACKENDS = (*CHOICES, "rlimit")
INSTALL_BWRAP = "install bubblewrap (`apt-get install bubblewrap`, or `make sandbox-deps` in a checkout)"
OPT_IN = ('or accept running model-written code without namespaces with --sandbox unsafe-rlimit '
          '(Python: sandbox_backend="unsafe-rlimit"): resource limits, and where the kernel offers them '
          'Landlock and seccomp, as uid nobody when the engine is root')
SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The devices a program may need, bound one by one: a few mounts fewer than bwrap's --dev (tty, pts,
# shm), and mounts are much of what a sandbox costs to set up and tear down.
DEVICE_FILES = tuple(f"/dev/{dev}" for dev in ("null", "zero", "random", "urandom"))
DEVICES = [arg for dev in DEVICE_FILES for arg in ("--dev-bind", dev, dev)]
# The seccomp filter's constants (confine.py) per machine: AUDIT_ARCH_*, socket(2), io_uring_setup(2),
# and whether x32 system calls (numbers from 0x40000000) exist beside the native ones.
SECCOMP = {
    "x86_64": {"arch": 0xC000003E, "socket": 41, "io_uring_setup": 425, "x32": True},
    "aarch64": {"arch": 0xC00000B7, "socket": 198, "io_uring_setup": 425, "x32": False},
}
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
    confine: dict | None = None  # what the process applies to itself before anything untrusted runs (confine.py)


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


# What a backend can keep a candidate from: writing (or reading) files outside its own directory,
# the network, signalling (or tracing) the engine's processes, reading the engine's secrets.
ISOLATION = frozenset({"files", "network", "signals", "secrets"})


class Backend:
    """Starts the harness in isolation and cleans up after it. ``isolates``: which of ISOLATION hold."""

    name: str
    isolates: frozenset[str] = ISOLATION

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
        # /dev/shm: a private tmpfs of its own, where POSIX semaphores live (multiprocessing's locks:
        # repositories' test suites use them).
        if self.sized_tmpfs:
            size = ["--size", str(limits.file_size_mb << 20)]
            tmp = [*size, "--tmpfs", "/tmp", *size, "--tmpfs", "/dev/shm"]
        else:  # bubblewrap older than 0.8 cannot size a tmpfs; a host dir is bounded by the disk only
            tmpdir = tempfile.mkdtemp(prefix="treesearch-sandbox-")
            tmp = ["--bind", tmpdir, "/tmp", "--tmpfs", "/dev/shm"]
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
    """No namespaces: rlimits, and as much of confine.py as the kernel offers (``landlock``: its ABI,
    0 for none; ``seccomp``: the filter's constants, None where unknown). ``uid``: what a root engine
    drops candidates to (None: they run as the engine's user, which must not be root then)."""

    name = "rlimit"

    def __init__(self, python: str, pids: PidsCgroups | None, uid: int | None, landlock: int = 0,
                 seccomp: dict | None = None) -> None:
        super().__init__(python, pids)
        self.uid = uid
        self.landlock = landlock
        self.seccomp = seccomp
        # What bubblewrap shows (read-only): /usr, the /lib-style dirs, the interpreter's installation.
        self.visible = tuple(dict.fromkeys(
            ["/usr", *SYSTEM_DIRS, *interpreter_roots(python), os.path.dirname(python)])) if landlock else ()
        other_uid = uid is not None
        self.isolates = frozenset(
            name for name, holds in (
                ("files", landlock >= 1), ("network", seccomp is not None),
                ("signals", other_uid or landlock >= 6), ("secrets", other_uid or landlock >= 1),
            ) if holds
        )

    def spawn(self, command: list[str], limits: Limits, workdir: str | None = None,
              read_only: tuple[str, ...] = ()) -> Spawn:
        tmpdir = tempfile.mkdtemp(prefix="treesearch-sandbox-")
        uid_outside = self.uid if self.uid is not None else os.getuid()
        marker = _new_marker()
        # Commands (workdir) get the paths they need to see, and /proc, as under bubblewrap.
        visible = [*self.visible, *read_only, "/proc"] if workdir is not None else list(self.visible)
        spec = {"landlock": self.landlock, "read": visible, "devices": list(DEVICE_FILES),
                "write": [tmpdir] + ([workdir] if workdir is not None else []), "seccomp": self.seccomp}
        return Spawn(
            argv=[*command, marker], env=_environment(tmpdir), cwd=workdir or tmpdir, uid=self.uid, marker=marker,
            nproc=self._nproc(uid_outside, False, limits), cgroup=self._cgroup(limits), tmpdir=tmpdir,
            confine=spec,
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

_PROBE_CODE = (
    "import posix,sys,json\n"
    "if len(sys.argv) > 2:\n apply(json.loads(sys.argv[1]))\n"  # the rlimit backend's confinement spec
    "{drop}import colorsys\n"  # a module of the standard library that is neither frozen nor loaded yet
    "posix.write(1, b'sandbox-ok')\n"
)


@functools.cache
def confine_source() -> str:
    """confine.py's source, for the processes that confine themselves (see confine.py)."""
    return Path(confine.__file__).read_text(encoding="utf-8")


def _works(backend: Backend, drop_uid: int | None = None) -> str | None:
    """None if ``backend`` can start the interpreter (confine it, and import from its standard
    library after dropping to ``drop_uid``); otherwise what went wrong."""
    drop = f"posix.setgroups([]); posix.setgid({drop_uid}); posix.setuid({drop_uid})\n" if drop_uid else ""
    code = _PROBE_CODE.format(drop=drop)
    if isinstance(backend, RlimitBackend):
        code = confine_source() + "\n" + code
    spawn = backend.spawn([backend.python, "-I", "-S", "-c", code], Limits())
    argv = spawn.argv
    if spawn.confine is not None:  # before the marker, which stays the last argument
        argv = [*argv[:-1], json.dumps(spawn.confine), argv[-1]]
    try:
        done = subprocess.run(
            argv, env=spawn.env, cwd=spawn.cwd, capture_output=True, timeout=PROBE_SECONDS,
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


def probe_backend(preferred: str = "auto", python: str | None = None, trusted_code: bool = False,
                  commands: bool = False) -> Backend:
    """The backend to use, probed once per process for each choice.

    "bwrap": bubblewrap, or a SandboxError. "unsafe-rlimit" (or "rlimit"): the rlimit backend, whose
    ``warnings`` say what it does not isolate here (SandboxError where it cannot run: as root, when no
    interpreter of this Python version is readable by uid nobody). "auto": bubblewrap; where it cannot
    run, the rlimit backend if ``trusted_code`` (code the caller vouches for, such as the simulated
    coder's), else a SandboxError saying why and what to do (install bubblewrap, or choose
    "unsafe-rlimit"). ``python``: the interpreter that runs candidates (default: the engine's own,
    or for the rlimit backend as root, a same-version one that uid nobody can read; another must be
    the same Python version). ``commands``: for shell commands in a checkout of the engine's
    (``command.py``), which run as the engine's user: as root, the rlimit backend takes them only
    when they are ``trusted_code``."""
    if preferred not in BACKENDS:
        raise SandboxError(f"unknown sandbox backend {preferred!r}; choose from {', '.join(CHOICES)}")
    explicit = python is not None
    python = os.path.realpath(python) if python else python_executable()
    with _probing:  # one probe at a time: backends share this process's pids cgroups
        if preferred in ("auto", "bwrap"):
            found = _probe_bwrap(python)
            if isinstance(found, Backend):
                return found
            if preferred == "bwrap":
                raise SandboxError(f"the bwrap sandbox backend cannot run here ({'; '.join(found)}); "
                                   + _bwrap_fix(found))
            if not trusted_code:
                raise SandboxError(
                    f"model-written code runs only in an isolating sandbox, and bubblewrap cannot run here "
                    f"({'; '.join(found)}). To fix it, {_bwrap_fix(found)}; {OPT_IN}")
            try:
                return _rlimit(python, explicit, trusted_code, commands)
            except SandboxError as e:
                raise SandboxError(f"bubblewrap cannot run here ({'; '.join(found)}), and the rlimit fallback "
                                   f"cannot either: {e}") from None
        return _rlimit(python, explicit, trusted_code, commands)


def _rlimit(python: str, explicit: bool, trusted_code: bool, commands: bool) -> RlimitBackend:
    if commands and os.geteuid() == 0:
        if not trusted_code:
            raise SandboxError(
                "the rlimit sandbox backend never runs a model's commands as root, and as another user they could "
                f"not work in the engine's checkout. To fix it, {INSTALL_BWRAP}, or run the engine as an "
                "unprivileged user")
        return _probe_rlimit(python, explicit, drop=False)
    return _probe_rlimit(python, explicit, drop=os.geteuid() == 0)


def bwrap_problems(python: str | None = None) -> tuple[str, ...]:
    """Why bubblewrap cannot run here (empty when it can)."""
    with _probing:
        found = _probe_bwrap(os.path.realpath(python) if python else python_executable())
    return () if isinstance(found, Backend) else found


_probing = threading.Lock()


def _bwrap_fix(problems: tuple[str, ...]) -> str:
    if any("not installed" in p for p in problems):
        return INSTALL_BWRAP
    return ("let bubblewrap create namespaces here (it needs unprivileged user namespaces, or root with "
            "CAP_SYS_ADMIN: in a container, allow them, e.g. docker run --security-opt seccomp=unconfined "
            "--cap-add SYS_ADMIN)")


@functools.cache
def _probe_bwrap(python: str) -> Backend | tuple[str, ...]:
    """The bubblewrap backend if it works here, else why not."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return ("bubblewrap (bwrap) is not installed",)
    problems = []
    for user_namespace in (True, False):
        for sized_tmpfs in (True, False):
            candidate = BwrapBackend(python, None, bwrap, user_namespace, sized_tmpfs)
            problem = _works(candidate)
            if problem is None:
                pids = PidsCgroups.find() if os.geteuid() == 0 else None
                backend = BwrapBackend(python, pids, bwrap, user_namespace, sized_tmpfs)
                backend.warnings = _process_limit_warnings(backend)
                return backend
            problems.append(problem)
    return tuple(dict.fromkeys(problems))


@functools.cache
def _probe_rlimit(python: str, explicit: bool, drop: bool) -> RlimitBackend:
    """The rlimit backend with as much confinement as this machine offers. With ``drop`` (a root
    engine) it drops candidates to uid nobody, on ``python`` or (unless ``explicit``) another build
    of the same version that nobody can read; failing that it refuses (SandboxError)."""
    landlock = confine.landlock_abi()
    seccomp = SECCOMP.get(platform.machine()) if _kernel_has_seccomp() else None
    if not drop:
        backend = RlimitBackend(python, None, None, landlock, seccomp)
        problem = _works(backend)
        if problem is not None:
            raise SandboxError(f"the rlimit sandbox backend cannot run here: {problem}")
    else:
        tried = []
        for candidate in [python] if explicit else _same_version_pythons(python):
            try:
                interpreter_roots(candidate)  # the same Python version, or SandboxError
                backend = RlimitBackend(candidate, None, NOBODY, landlock, seccomp)
            except SandboxError as e:
                tried.append(str(e))
                continue
            problem = _works(backend, drop_uid=NOBODY)
            if problem is None:
                break
            tried.append(f"{candidate}, as uid {NOBODY}: {problem.removeprefix('rlimit: ')}")
        else:
            version = PYTHON_VERSION
            raise SandboxError(
                f"the rlimit sandbox backend never runs candidates as root, and no Python {version} interpreter "
                f"here runs as uid {NOBODY} ({'; '.join(tried)}). To fix it, {INSTALL_BWRAP}, or install a Python "
                f"{version} that other users can read (e.g. apt-get install python{version}), or run the engine "
                "as an unprivileged user")
    backend.pids = PidsCgroups.find() if os.geteuid() == 0 else None
    backend.warnings = _rlimit_warnings(backend) + _process_limit_warnings(backend)
    return backend


def _same_version_pythons(python: str) -> list[str]:
    """``python`` first, then the system's builds of this Python version."""
    version = PYTHON_VERSION
    found = [python, f"/usr/bin/python{version}", f"/usr/local/bin/python{version}", shutil.which(f"python{version}")]
    real = {}
    for path in found:
        if path and os.access(path, os.X_OK):
            real.setdefault(os.path.realpath(path), None)
    return list(real)


def _kernel_has_seccomp() -> bool:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            return any(line.startswith("Seccomp:") for line in f)
    except OSError:
        return False


def _rlimit_warnings(backend: RlimitBackend) -> tuple[str, ...]:
    notes = ["the rlimit backend has no namespaces, so it isolates less than bubblewrap (candidates share "
             "the host's process list, System V IPC and disk)"]
    if backend.landlock == 0:
        notes.append("no Landlock in this kernel: the file system is not isolated (candidates read and write "
                     "wherever their uid may)")
    if backend.seccomp is None:
        notes.append(f"no seccomp filter for this machine ({platform.machine()}): the network is not isolated"
                     + (" (Landlock blocks TCP only)" if backend.landlock >= 4 else ""))
    if backend.uid is None and os.geteuid() == 0:
        notes.append("candidates run as root, as the engine does (trusted code only): Landlock and seccomp do "
                     "not take root's other privileges away")
    if backend.landlock < 6:
        if backend.uid is None:
            notes.append("candidates run as the engine's own user and can signal the engine's processes")
        else:
            notes.append(f"candidates can signal other processes of uid {backend.uid}, such as the sandboxes "
                         f"running beside them (signals are confined from Landlock ABI 6, this kernel has "
                         f"{backend.landlock})")
    return tuple(notes)


def _process_limit_warnings(backend: Backend) -> tuple[str, ...]:
    if os.geteuid() == 0 and backend.pids is None:
        return ("running as root without a writable pids cgroup: the number of processes a candidate "
                "starts is bounded only by the time limits",)
    return ()
