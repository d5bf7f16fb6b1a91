"""One managed ``llama-server`` per process and model: started on demand, stopped with the process.

:func:`ensure_server` starts the server on a free loopback port with ``slots`` parallel slots (one
per expansion in flight) and waits until ``/health`` answers, or returns the one already running.
Its output goes to a log file (the run directory's ``llama-server.log``). It is stopped

- at normal exit (atexit), and
- when the engine dies in any other way, SIGKILL included: the server is started with the kernel's
  parent-death signal (``PR_SET_PDEATHSIG``), so an orphan never keeps 500 MB and two cores busy.
  The signal follows the *thread* that started the child, so every server is started from one
  long-lived thread of this module, never from a worker thread that may end first.

A port taken between choosing it and the server binding it (another process won the race) is
detected from the server's exit and a new port is tried.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from treesearch.local.progress import say
from treesearch.local.registry import LocalModel, LocalModelError

READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 10.0
PORT_ATTEMPTS = 4
# Tokens of context per slot: room for the longest prompt a search sends plus its completion cap.
SLOT_CONTEXT = 8192
_PR_SET_PDEATHSIG = 1


@dataclass
class LlamaServer:
    """A running ``llama-server``: its process, URL and log."""

    model: LocalModel
    process: subprocess.Popen
    port: int
    slots: int
    log_path: Path
    started_s: float = field(default=0.0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return self.url + "/v1"

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def describe_exit(self) -> str | None:
        """None while running; else how it ended, for error messages."""
        code = self.process.poll()
        if code is None:
            return None
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        return f"the local model server (llama-server, pid {self.pid}) {how}; its log: {self.log_path}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


_servers: dict[Path, LlamaServer] = {}
_lock = threading.Lock()
# The one thread every server is started from (see the module docstring); it lives as long as the process.
_starter = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="treesearch-llama-server")


def ensure_server(model: LocalModel, weights: Path, binary: Path, slots: int, log_dir: Path | None) -> LlamaServer:
    """The running server for ``weights``, started first if there is none (or it died)."""
    with _lock:
        server = _servers.get(weights)
        if server is not None and server.alive():
            if slots > server.slots:
                say(f"the running llama-server has {server.slots} slots; requests beyond them wait for a free one")
            return server
        log_dir = log_dir or default_log_dir()
        server = _starter.submit(_start, model, weights, binary, max(1, slots), log_dir).result()
        _servers[weights] = server
        return server


def running_servers() -> list[LlamaServer]:
    with _lock:
        return list(_servers.values())


def stop_all() -> None:
    with _lock:
        servers = list(_servers.values())
        _servers.clear()
    for server in servers:
        server.stop()


atexit.register(stop_all)


def default_log_dir() -> Path:
    from treesearch.local.weights import cache_root

    return cache_root() / "logs"


def server_command(binary: Path, weights: Path, model: LocalModel, port: int, slots: int) -> list[str]:
    context = SLOT_CONTEXT if not model.context_length else min(SLOT_CONTEXT, model.context_length)
    return [
        str(binary), "--model", str(weights), "--alias", model.alias,
        "--host", "127.0.0.1", "--port", str(port),
        "--parallel", str(slots), "--ctx-size", str(context * slots),
        "--threads", str(os.cpu_count() or 2), "--metrics", "--no-webui",
    ]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(model: LocalModel, weights: Path, binary: Path, slots: int, log_dir: Path) -> LlamaServer:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "llama-server.log"
    say(f"starting llama-server for {model.model_string} ({slots} slot{'s' if slots != 1 else ''}); log: {log_path}")
    started = time.monotonic()
    failures = []
    for _ in range(PORT_ATTEMPTS):
        port = free_port()
        server = _spawn(model, weights, binary, port, slots, log_path)
        outcome = _wait_ready(server)
        if outcome is None:
            server.started_s = time.monotonic() - started
            say(f"llama-server ready on {server.url} (pid {server.pid}) in {server.started_s:.1f} s")
            return server
        server.stop()
        failures.append(outcome)
        if "address" not in outcome.lower() and "bind" not in outcome.lower():
            break
        say(f"port {port} was taken before llama-server bound it; trying another")
    raise LocalModelError(f"llama-server for {model.model_string} did not start: {failures[-1]} (log: {log_path})")


def _spawn(model: LocalModel, weights: Path, binary: Path, port: int, slots: int, log_path: Path) -> LlamaServer:
    parent = os.getpid()

    def die_with_parent() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    with open(log_path, "ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} port {port}\n".encode())
        log.flush()
        process = subprocess.Popen(
            server_command(binary, weights, model, port, slots), stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, preexec_fn=die_with_parent, start_new_session=True,
        )
    return LlamaServer(model=model, process=process, port=port, slots=slots, log_path=log_path)


def _wait_ready(server: LlamaServer) -> str | None:
    """None once ``/health`` answers 200; else why the server will not become ready."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if not server.alive():
            return f"it exited with code {server.process.returncode}: {_log_tail(server.log_path)}"
        with contextlib.suppress(urllib.error.URLError, OSError):
            with urllib.request.urlopen(server.url + "/health", timeout=2.0) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return None
        time.sleep(0.2)
    return f"not ready after {READY_TIMEOUT_S:.0f} s: {_log_tail(server.log_path)}"


def _log_tail(path: Path, lines: int = 4) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(line.strip() for line in text[-lines:])
