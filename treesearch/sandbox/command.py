"""Running a shell command in the sandbox, inside a directory it may write to.

Programs on tests go through :class:`~treesearch.sandbox.Sandbox`; a repository agent also needs to
run *commands* — a repository's test suite, a reproduction script, ``grep`` — in a checkout. This
module runs one with the same isolation (see ``backends.py``: with bubblewrap no network, a read-only
view of ``/usr`` and the Python installation, a private size-capped ``/tmp``, a fresh pid namespace
that dies with the command, the pids cgroup when the engine is root) plus:

* the work directory bound **writable** at its own path, and the current directory;
* extra paths bound read-only at their own paths: by default the virtualenv of the Python the
  commands should use (``python`` on the command's ``PATH``), so ``python -m pytest`` finds pytest;
* rlimits (CPU seconds, address space, file size, open files, processes) set by a tiny launcher
  (``python -I -S``) on itself before it ``exec``s ``/bin/sh -c COMMAND``;
* a wall-time limit enforced by the parent, which kills the whole sandbox;
* stdout and stderr interleaved in one pipe, of which the first and last ``output_bytes / 2``
  bytes are kept (the middle of a flood is dropped, not the end where tracebacks and summaries are).

With the ``rlimit`` backend (no bubblewrap; "unsafe-rlimit", or "auto" for trusted commands) commands
run in the work directory as the engine's own user, with the rlimits, the wall limit and what the
kernel offers of ``confine.py``: Landlock (writable: the work directory and the command's own temp
dir, ``$TMPDIR``; readable: what bubblewrap would show, and ``/proc``; no TCP; no signals out) and the
seccomp filter (no socket but unix ones). The backend's warnings say what does not hold. A root
engine runs only trusted commands so (the simulated coder's): a model's commands would run as root,
and as another user they could not work in the engine's checkout, so that is a SandboxError.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import select
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from treesearch.sandbox.backends import Backend, RlimitBackend, SandboxError, confine_source, probe_backend
from treesearch.sandbox.limits import Limits

# Commands are heavier than one candidate program (a test suite imports a whole package), so their
# defaults are more generous; ``test_s`` is unused here (a command has no per-test timer).
COMMAND_LIMITS = Limits(wall_s=120.0, test_s=120.0, cpu_s=120.0, memory_mb=4096, file_size_mb=64,
                        open_files=1024, processes=64, output_bytes=256 << 10)

# Sets the rlimits on itself (and confines itself: the rlimit backend prepends confine.py), then
# becomes the shell; argv: {"rlimits", "confine"} (JSON), command, the run marker (kept as the
# shell's $0 so the run's processes stay findable by it).
LAUNCHER = (
    "import json,os,resource,sys\n"
    "job=json.loads(sys.argv[1])\n"
    "for name,value in job['rlimits']:\n"
    " resource.setrlimit(getattr(resource,name),(value,value))\n"
    "if job['confine'] is not None:\n"
    " apply(job['confine'])\n"
    "os.execv('/bin/sh',['/bin/sh','-c',sys.argv[2],sys.argv[3]])\n"
)


@dataclass(frozen=True)
class CommandResult:
    """What one command did. ``ended``: "exited" (on its own; ``exit_code`` says how) or "timeout"
    (the wall-time limit: the parent killed it and ``exit_code`` is None)."""

    command: str
    exit_code: int | None
    output: str
    ended: str
    output_bytes: int
    wall_s: float

    @property
    def ok(self) -> bool:
        return self.ended == "exited" and self.exit_code == 0

    def summary(self) -> str:
        if self.ended == "timeout":
            return f"killed after the {self.wall_s:.0f} s time limit"
        return f"exit code {self.exit_code}"


class CommandRunner:
    """Runs shell commands in the sandbox, at most ``max_concurrency`` at once (worker threads).

    ``python``: the interpreter commands get as ``python`` (default: the engine's own, with its
    virtualenv); its installation and virtualenv are bound read-only. ``backend`` and
    ``trusted_code``: as for :class:`~treesearch.sandbox.Sandbox` (see the module docstring for
    the rlimit backend's commands).
    """

    def __init__(self, backend: str = "auto", limits: Limits | None = None, max_concurrency: int | None = None,
                 python: str | None = None, trusted_code: bool = False) -> None:
        self._backend: Backend = probe_backend(backend, trusted_code=trusted_code, commands=True)
        self.limits = limits or COMMAND_LIMITS
        self.python = os.path.abspath(python or sys.executable)
        if not os.access(self.python, os.X_OK):
            raise SandboxError(f"no Python interpreter at {self.python}")
        self.read_only = python_mounts(self.python)
        self._pool = ThreadPoolExecutor(max_concurrency or os.cpu_count() or 1, thread_name_prefix="command")

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the backend does not isolate here (empty for a fully working bubblewrap)."""
        return self._backend.warnings

    async def run(self, command: str, workdir: str | Path, limits: Limits | None = None,
                  env: dict[str, str] | None = None, python: str | None = None,
                  read_only: tuple[str, ...] = ()) -> CommandResult:
        """Run ``command`` (``/bin/sh -c``) in ``workdir``; see the module docstring. ``python`` (with
        ``read_only``, what it needs visible) replaces the runner's interpreter for this command: an
        instance's own environment."""
        call = self._prepare(command, workdir, limits, env, python, read_only)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    def run_sync(self, command: str, workdir: str | Path, limits: Limits | None = None,
                 env: dict[str, str] | None = None) -> CommandResult:
        return self._pool.submit(self._prepare(command, workdir, limits, env)).result()

    def _prepare(self, command: str, workdir: str | Path, limits: Limits | None, env: dict[str, str] | None,
                 python: str | None = None, read_only: tuple[str, ...] = ()) -> functools.partial[CommandResult]:
        workdir = os.path.realpath(workdir)
        if not os.path.isdir(workdir):
            raise SandboxError(f"the work directory {workdir} does not exist")
        mounts = self.read_only if python is None else tuple(dict.fromkeys((*read_only, *python_mounts(python))))
        extra_env = {"PATH": f"{os.path.dirname(python or self.python)}:/usr/local/bin:/usr/bin:/bin",
                     "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
        return functools.partial(run_command, self._backend, command, workdir, limits or self.limits,
                                 mounts, extra_env)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> CommandRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def python_mounts(python: str) -> tuple[str, ...]:
    """What must be visible for ``python`` to run with its packages: its virtualenv (the directory
    above ``bin/`` holding ``pyvenv.cfg``) and its installation, unless under ``/usr``."""
    mounts = []
    venv = os.path.dirname(os.path.dirname(python))
    if os.path.isfile(os.path.join(venv, "pyvenv.cfg")):
        mounts.append(venv)
    install = os.path.dirname(os.path.dirname(os.path.realpath(python)))
    if install != "/usr" and not install.startswith("/usr/"):
        mounts.append(install)
    return tuple(dict.fromkeys(mounts))


def run_command(backend: Backend, command: str, workdir: str, limits: Limits, read_only: tuple[str, ...] = (),
                env: dict[str, str] | None = None) -> CommandResult:
    """Run ``command`` in a fresh sandbox with ``workdir`` writable; blocks until it ends or is killed."""
    started = time.monotonic()
    code = confine_source() + "\n" + LAUNCHER if isinstance(backend, RlimitBackend) else LAUNCHER
    spawn = backend.spawn([backend.python, "-I", "-S", "-c", code], limits, workdir, read_only)
    rlimits = [(name, spawn.nproc if name == "RLIMIT_NPROC" else value) for name, value in limits.rlimits()]
    # The backend appended the run marker as the last argument; the launcher gets it after the command.
    *argv, marker = spawn.argv
    job = {"rlimits": [(n, v) for n, v in rlimits if v is not None], "confine": spawn.confine}
    argv += [json.dumps(job), command, marker]
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**spawn.env, **(env or {})}, cwd=spawn.cwd, pass_fds=spawn.pass_fds, start_new_session=True,
        )
    except OSError as e:
        backend.cleanup(spawn)
        raise SandboxError(f"cannot start the sandbox: {e}") from e
    finally:
        for fd in spawn.pass_fds:
            os.close(fd)
    output = _Output(limits.output_bytes)
    ended = "exited"
    try:
        ended = _collect(proc, output, started + limits.wall_s)
        if ended != "exited":
            backend.kill(proc, spawn)
    finally:
        if proc.poll() is None:
            backend.kill(proc, spawn)
        proc.wait()
        proc.stdout.close()
        backend.cleanup(spawn)
    return CommandResult(command=command, exit_code=proc.returncode if ended == "exited" else None,
                         output=output.text(), ended=ended, output_bytes=output.total,
                         wall_s=round(time.monotonic() - started, 3))


def _collect(proc: subprocess.Popen, output: _Output, deadline: float) -> str:
    """Read the process's output until it ends ("exited") or the deadline passes ("timeout")."""
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "timeout"
        if poller.poll(max(1, int(remaining * 1000))):
            try:
                data = os.read(fd, 1 << 16)
            except BlockingIOError:
                continue
            if not data:  # every writer closed the pipe: the sandbox is gone or going
                try:
                    proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    return "timeout"
                return "exited"
            output.add(data)


class _Output:
    """The first and the last ``cap / 2`` bytes of a stream, and its total size."""

    def __init__(self, cap: int) -> None:
        self.half = max(1, cap // 2)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            del self.tail[: max(0, len(self.tail) - self.half)]

    def text(self) -> str:
        dropped = self.total - len(self.head) - len(self.tail)
        middle = f"\n[... {dropped} bytes of output left out ...]\n".encode() if dropped > 0 else b""
        return (bytes(self.head) + middle + bytes(self.tail)).decode("utf-8", "replace")
