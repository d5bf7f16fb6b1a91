"""One sandboxed process: start the harness through a backend, send it the job, collect its frames,
enforce the parent's limits, and clean up.

The job goes in on stdin (marshal: parent to child only, the child trusts the parent); results come
back on a dedicated pipe as length-prefixed JSON frames (see ``child.py``), never on stdout, which
the candidate can write to or close. Every frame is checked here before anyone believes it.
"""

from __future__ import annotations

import errno
import functools
import json
import marshal
import os
import select
import subprocess
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from treesearch.sandbox import child
from treesearch.sandbox.backends import Backend, SandboxError, confine_source
from treesearch.sandbox.limits import Limits
from treesearch.sandbox.values import ProtocolError

# Reads the job from stdin, then runs the harness (a marshalled code object, so it is not compiled
# again in every run and the sandbox needs no access to this package's files) with its own copy of
# the builtins, so a candidate that patches `builtins` does not change the harness's `str` or `len`.
BOOTSTRAP = (
    "import marshal,posix\n"
    "b=[]\n"
    "while 1:\n"
    " c=posix.read(0,1048576)\n"
    " if not c:break\n"
    " b.append(c)\n"
    "c,j=marshal.loads(b''.join(b))\n"
    "del b\n"
    "g={'__name__':'treesearch_sandbox_harness','__builtins__':__builtins__.__dict__.copy()}\n"
    "exec(c,g)\n"
    "g['main'](j)\n"
)
STARTUP_S = 5.0  # time to start the interpreter in the sandbox, on top of the first test's limit
STARTS = 3  # attempts at starting a sandbox that exits before its harness is ready
GRACE_S = 0.5  # how long the parent waits past the harness's own per-test timer
EXCERPT_BYTES = 4000  # process-level stdout/stderr kept
FRAME_OVERHEAD = 1 << 18
FRAME_TYPES = ("loaded", "load_error", "test", "done")


@functools.lru_cache(maxsize=1)
def harness_code() -> types.CodeType:
    """child.py compiled once per engine; optimize=2 drops its docstrings (half of the bytes sent)."""
    path = Path(child.__file__)
    return compile(path.read_text(encoding="utf-8"), str(path), "exec", dont_inherit=True, optimize=2)


@functools.lru_cache(maxsize=1)
def confine_code() -> types.CodeType:
    """confine.py compiled once per engine, for harnesses that confine themselves (rlimit backend)."""
    return compile(confine_source(), "confine.py", "exec", dont_inherit=True, optimize=2)


def python_command(python: str) -> list[str]:
    # -I: no environment variables, no user site, no script dir on sys.path; -S: no site import
    # (milliseconds per run, and the candidate gets the standard library only); -X utf8: text I/O is
    # UTF-8 whatever the locale; -B: no .pyc writing.
    return [python, "-I", "-S", "-B", "-X", "utf8", "-c", BOOTSTRAP]


@dataclass
class Launch:
    """What one sandboxed process did.

    ``started``: the harness reported ready (before any candidate code ran). ``frames``: what it
    reported after that. ``ended``: "exited" (on its own), "test_timeout" (no frame within the
    per-test limit plus grace), "wall_timeout", "output_limit" (process stdout+stderr over the limit)
    or "protocol_error"; all but "exited" mean the parent killed it.
    """

    started: bool = False
    frames: list[dict[str, Any]] = field(default_factory=list)
    ended: str = "exited"
    detail: str = ""
    returncode: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""

    @property
    def finished(self) -> bool:
        """The harness reported everything it was going to (all tests, or the load error)."""
        return bool(self.frames) and self.frames[-1]["t"] in ("done", "load_error")


def launch(backend: Backend, job: dict[str, Any], limits: Limits, deadline: float) -> Launch:
    """Run the harness on ``job`` (code, kind, entry, tests as specs, trace) in a fresh sandbox.
    A sandbox that ends before its harness is ready (bubblewrap could not create a namespace, the
    interpreter could not start) is the machine's failure, not the candidate's: it is started again,
    and after STARTS attempts the SandboxError says why."""
    for _ in range(STARTS):
        result = _launch_once(backend, job, limits, deadline)
        if result.started or result.ended != "exited":
            return result
    stderr = result.stderr.decode("utf-8", "replace").strip().splitlines()
    raise SandboxError(f"the {backend.name} sandbox failed to start (exit status {result.returncode}): "
                       + (stderr[-1] if stderr else "no error message"))


def _launch_once(backend: Backend, job: dict[str, Any], limits: Limits, deadline: float) -> Launch:
    spawn = backend.spawn(python_command(backend.python), limits)
    result_read, result_write = os.pipe()
    rlimits = [(name, spawn.nproc if name == "RLIMIT_NPROC" else value) for name, value in limits.rlimits()]
    full_job = {
        **job, "result_fd": result_write, "test_s": limits.test_s, "output_bytes": limits.output_bytes,
        "rlimits": [(name, value) for name, value in rlimits if value is not None], "uid": spawn.uid,
        "confine": spawn.confine, "confine_code": confine_code() if spawn.confine is not None else None,
    }
    try:
        payload = marshal.dumps((harness_code(), full_job))
    except ValueError as e:  # a test input that is not plain data
        for fd in (result_read, result_write, *spawn.pass_fds):
            os.close(fd)
        backend.cleanup(spawn)
        raise SandboxError(f"test inputs must be plain data (lists, dicts, numbers, text...): {e}") from e
    try:
        proc = subprocess.Popen(
            spawn.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=spawn.env, cwd=spawn.cwd, pass_fds=(result_write, *spawn.pass_fds), start_new_session=True,
        )
    except OSError as e:
        os.close(result_read)
        backend.cleanup(spawn)
        raise SandboxError(f"cannot start the sandbox: {e}") from e
    finally:
        for fd in (result_write, *spawn.pass_fds):
            os.close(fd)
    try:
        session = _Session(proc, result_read, payload, limits, deadline, len(job["tests"]))
        result = session.run(lambda: backend.kill(proc, spawn))
    finally:
        if proc.poll() is None:
            backend.kill(proc, spawn)
        proc.wait()
        backend.cleanup(spawn)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            stream.close()
        os.close(result_read)
    result.returncode = proc.returncode
    return result


class _Session:
    """The parent's side of one process: a poll loop over the job pipe, stdout, stderr, the result
    pipe and a pidfd, with the per-frame and wall-time deadlines."""

    def __init__(self, proc: subprocess.Popen, results_fd: int, payload: bytes, limits: Limits,
                 deadline: float, n_tests: int) -> None:
        self.proc = proc
        self.results_fd = results_fd
        self.payload = memoryview(payload)
        self.limits = limits
        self.deadline = deadline
        self.n_tests = n_tests
        self.buffer = bytearray()
        self.max_frame = limits.output_bytes * 6 + FRAME_OVERHEAD  # JSON escaping can grow text 6x
        self.output_total = 0
        self.tests_seen = 0
        self.launch = Launch()
        self.frame_deadline = time.monotonic() + STARTUP_S + limits.test_s

    def run(self, kill: Callable[[], None]) -> Launch:
        proc = self.proc
        pidfd = os.pidfd_open(proc.pid)
        stdin, stdout, stderr = proc.stdin.fileno(), proc.stdout.fileno(), proc.stderr.fileno()
        for fd in (stdin, stdout, stderr, self.results_fd):
            os.set_blocking(fd, False)
        poller = select.poll()
        poller.register(stdin, select.POLLOUT)
        for fd in (stdout, stderr, self.results_fd, pidfd):
            poller.register(fd, select.POLLIN)
        readers = {stdout: "stdout", stderr: "stderr", self.results_fd: "results"}
        try:
            while True:
                now = time.monotonic()
                if now >= self.deadline or now >= self.frame_deadline:
                    if not self.launch.finished:  # a finished harness that lingers is just stopped
                        self.launch.ended = "wall_timeout" if now >= self.deadline else "test_timeout"
                    kill()
                    break
                timeout = min(self.deadline, self.frame_deadline) - now
                events = poller.poll(max(1, int(timeout * 1000) + 1))
                exited = False
                for fd, _ in events:
                    if fd == stdin:
                        if self._write_job(stdin):
                            poller.unregister(stdin)
                            proc.stdin.close()
                    elif fd == pidfd:
                        exited = True
                    elif not self._read(fd, readers[fd]):
                        poller.unregister(fd)
                if self.launch.ended != "exited":
                    kill()
                    break
                if exited:  # drain what the process left in the pipes, then stop
                    for fd, name in readers.items():
                        while self._read(fd, name):
                            pass
                    break
        finally:
            os.close(pidfd)
        return self.launch

    def _write_job(self, fd: int) -> bool:
        """Write more of the job; True when it is all written (or the process stopped reading)."""
        try:
            written = os.write(fd, self.payload[:1 << 16])
        except BlockingIOError:
            return False
        except OSError as e:
            if e.errno in (errno.EPIPE, errno.EBADF):
                return True
            raise
        self.payload = self.payload[written:]
        return not self.payload

    def _read(self, fd: int, name: str) -> bool:
        """Read what is there; False at end of file or when nothing more is wanted."""
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return False
        if not data or self.launch.ended != "exited":
            return False
        if name == "results":
            self.buffer += data
            self._parse_frames()
            return True
        self.output_total += len(data)
        kept = getattr(self.launch, name)
        if len(kept) < EXCERPT_BYTES:
            setattr(self.launch, name, kept + data[: EXCERPT_BYTES - len(kept)])
        if self.output_total > self.limits.output_bytes:
            self.launch.ended = "output_limit"
            self.launch.detail = f"the program wrote more than {self.limits.output_bytes} bytes to stdout/stderr"
            return False
        return True

    def _parse_frames(self) -> None:
        while len(self.buffer) >= 4:
            size = int.from_bytes(self.buffer[:4], "big")
            if size > self.max_frame:
                self._protocol_error(f"a result frame of {size} bytes (limit {self.max_frame})")
                return
            if len(self.buffer) < 4 + size:
                return
            data = bytes(self.buffer[4 : 4 + size])
            del self.buffer[: 4 + size]
            try:
                frame = json.loads(data)
                if not self.launch.started:
                    if frame != {"t": "ready"}:
                        raise ProtocolError("the first frame is not 'ready'")
                    self.launch.started = True
                    continue
                frame = _check_frame(frame, self.launch.frames, self.tests_seen, self.n_tests)
            except (ValueError, RecursionError) as e:  # json.JSONDecodeError and ProtocolError included
                self._protocol_error(str(e)[:200])
                return
            self.launch.frames.append(frame)
            self.tests_seen += frame["t"] == "test"
            last = frame["t"] in ("done", "load_error")
            self.frame_deadline = time.monotonic() + (GRACE_S if last else self.limits.test_s + GRACE_S)

    def _protocol_error(self, detail: str) -> None:
        self.launch.ended = "protocol_error"
        self.launch.detail = f"the sandboxed process sent malformed results: {detail}"


def _check_frame(frame: Any, earlier: list[dict[str, Any]], tests_seen: int, n_tests: int) -> dict[str, Any]:
    """The frame, if it can come next from the harness; ProtocolError otherwise. Fields are checked
    where they are used (``runner.py``)."""
    if not isinstance(frame, dict) or frame.get("t") not in FRAME_TYPES:
        raise ProtocolError("a frame that is not a result frame")
    kind = frame["t"]
    if not earlier:
        if kind not in ("loaded", "load_error"):
            raise ProtocolError(f"{kind!r} before the program was loaded")
        return frame
    last = earlier[-1]["t"]
    if last in ("done", "load_error") or kind in ("loaded", "load_error"):
        raise ProtocolError(f"{kind!r} after {last!r}")
    if kind == "test" and (frame.get("i") != tests_seen or tests_seen >= n_tests):
        raise ProtocolError(f"result for test {frame.get('i')!r} where test {tests_seen} was due")
    if kind == "done" and tests_seen != n_tests:
        raise ProtocolError(f"'done' after {tests_seen} of {n_tests} tests")
    return frame
