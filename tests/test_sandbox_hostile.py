"""The hostile corpus (tests/hostile/): every program attacks the sandbox instead of solving the problem.
On every backend where the attack is meant to be contained, each run must end with the engine alive,
a failing verdict with the expected status, no process of the run left, nothing leaked, and a
working sandbox for the next program.

Without bubblewrap (hidden from PATH) every attack is either refused — model-written code gets no
sandbox at all unless the caller opts in with "unsafe-rlimit" — or, with the opt-in, contained by
the rlimit backend as far as this kernel allows (Landlock, seccomp, uid nobody); what it cannot
contain here is skipped with the backend's own account of why."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.sandbox_backends import available_backends, open_backend
from treesearch.problems import TestCase
from treesearch.sandbox import Limits, Sandbox, SandboxError, backends, split_test_code
from treesearch.sandbox.backends import marked_processes

CORPUS = Path(__file__).parent / "hostile"
LIMITS = Limits(wall_s=5, test_s=0.5, cpu_s=5, memory_mb=256, file_size_mb=4, processes=32, output_bytes=200_000)
SECRET = "sk-hostile-test-secret-4f1c"
TWO = [TestCase(input=[1], output=2), TestCase(input=[2], output=4)]
ONE = TWO[:1]
GENERAL_ASSERTS = split_test_code(
    "def check(candidate):\n    assert abs(candidate(1) - 2) < 1e-9\n    assert abs(candidate(2) - 4) < 1e-9\n", "solve"
)
STDIO = [TestCase(input="1\n", output="2\n"), TestCase(input="2\n", output="4\n")]
# What an attack needs the backend to isolate (Sandbox.isolates): bubblewrap isolates all of them; the
# rlimit backend "files" with Landlock, "network" with its seccomp filter, "signals" and "secrets" when
# candidates run as another uid (or Landlock confines signals, ABI 6, and ptrace).
FILES, NETWORK, SIGNALS, SECRETS = "files", "network", "signals", "secrets"
NO_BWRAP = "unsafe-rlimit, no bwrap on PATH"


@dataclass(frozen=True)
class Attack:
    statuses: frozenset[str]  # the run statuses that describe a contained failure
    tests: tuple[TestCase, ...] = tuple(TWO)
    contained_by: str = "any"


def attack(*statuses: str, tests=TWO, contained_by: str = "any") -> Attack:
    return Attack(frozenset(statuses), tuple(tests), contained_by)


EXPECTED = {
    "fork_bomb": attack("ok", "crashed", "timeout"),
    "fork_sleepers": attack("ok"),
    "memory_bomb": attack("memory"),
    "memory_creep": attack("memory"),
    "infinite_loop": attack("timeout"),
    "c_sum_spin": attack("timeout", tests=ONE),
    "c_huge_pow": attack("timeout", "memory", tests=ONE),
    "recursion_bomb": attack("ok"),
    "stack_overflow": attack("crashed", "timeout"),  # segfaults, unless building the list takes longer than the limit
    "disk_fill_one_file": attack("ok", "output_limit"),
    "disk_fill_many_files": attack("ok"),
    "stdout_flood": attack("output_limit"),
    "fd_stdout_flood": attack("output_limit"),
    "read_secrets": attack("ok", contained_by=SECRETS),
    "network": attack("ok", contained_by=NETWORK),
    "write_outside": attack("ok", contained_by=FILES),
    "read_host_files": attack("ok", contained_by=FILES),
    "kill_parent": attack("ok", contained_by=SIGNALS),
    "kill_everything": attack("ok", contained_by=SIGNALS),
    "sys_exit_at_load": attack("load_error"),
    "os_exit_at_load": attack("crashed"),
    "sys_exit_in_test": attack("ok"),
    "os_exit_in_test": attack("crashed"),
    "patch_builtins": attack("ok"),
    "always_equal": attack("ok"),
    "assert_cheat": attack("ok", tests=GENERAL_ASSERTS),
    "fake_success_output": attack("ok"),
    "forge_frames": attack("crashed"),
    "garbage_frames": attack("crashed"),
    "tamper_harness": attack("crashed"),
    "close_stdio": attack("ok"),
    "ctypes_segfault": attack("crashed"),
    "ignore_signals": attack("timeout", tests=ONE),
    "catch_everything": attack("timeout", tests=ONE),
    "leftover_children": attack("ok"),
    "huge_return_value": attack("ok"),
    "deep_return_value": attack("ok"),
    "non_utf8_output": attack("ok"),
    "stop_self": attack("ok", "timeout", tests=ONE),  # as the namespace's init, bwrap's harness ignores it
    "exec_replace": attack("crashed"),
    "evil_exception": attack("timeout"),
    "raise_limits": attack("memory"),
    "stdio_fork_bomb": attack("ok", "crashed", "timeout", tests=STDIO),
    "stdio_infinite_output": attack("output_limit", tests=STDIO),
    "stdio_non_utf8": attack("ok", tests=STDIO),
    "stdio_exit_early": attack("ok", tests=STDIO),
    "stdio_kill_harness": attack("ok", "crashed", tests=STDIO),
    "stdio_sleep_forever": attack("timeout", tests=STDIO[:1]),
}


@contextlib.contextmanager
def bwrap_hidden():
    """PATH without bubblewrap, and the backend probes forgotten (before and after)."""
    saved = os.environ.get("PATH")
    os.environ["PATH"] = "/nonexistent-treesearch-test-bin"
    backends._probe_bwrap.cache_clear()
    backends._probe_rlimit.cache_clear()
    try:
        assert backends.bwrap_problems() == ("bubblewrap (bwrap) is not installed",)
        yield
    finally:
        os.environ["PATH"] = saved
        backends._probe_bwrap.cache_clear()
        backends._probe_rlimit.cache_clear()


@pytest.fixture(scope="module", params=[*available_backends(), NO_BWRAP])
def sandbox(request):
    if request.param == NO_BWRAP:
        with bwrap_hidden(), pytest.warns(RuntimeWarning, match="chosen with unsafe-rlimit"):
            box = Sandbox("unsafe-rlimit", limits=LIMITS)
    else:
        box = open_backend(request.param, LIMITS)
    yield box
    box.close()


def test_without_bubblewrap_model_code_is_refused_before_it_runs():
    """The default (and what every command uses for a model's code): no bubblewrap, no sandbox —
    a SandboxError that says why and both ways out. Only trusted code falls back by itself."""
    with bwrap_hidden():
        for backend in ("auto", "bwrap"):
            with pytest.raises(SandboxError, match="bubblewrap") as refused:
                Sandbox(backend)
            assert "apt-get install bubblewrap" in str(refused.value)
        with pytest.raises(SandboxError) as refused:
            Sandbox()
        message = str(refused.value)
        assert "bubblewrap (bwrap) is not installed" in message
        assert "make sandbox-deps" in message and "--sandbox unsafe-rlimit" in message
        assert 'sandbox_backend="unsafe-rlimit"' in message
        with pytest.warns(RuntimeWarning, match="trusted code, bubblewrap unavailable"):
            trusted = Sandbox(trusted_code=True)
        assert trusted.backend == "rlimit"
        trusted.close()


def test_the_corpus_is_complete():
    programs = {p.stem for p in CORPUS.glob("*.py")}
    assert programs == set(EXPECTED)
    assert len(programs) >= 25


def contains(sandbox: Sandbox, attack: Attack) -> bool:
    return attack.contained_by == "any" or attack.contained_by in sandbox.isolates


class Listener:
    """A TCP server on the engine's loopback that records whether anyone connected."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.server.close()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_program_is_contained(sandbox, name, monkeypatch):
    expected = EXPECTED[name]
    if not contains(sandbox, expected):
        pytest.skip(f"{sandbox.backend} does not contain this attack here (documented): {sandbox.warnings}")
    monkeypatch.setenv("TREESEARCH_TEST_API_KEY", SECRET)
    program = (CORPUS / f"{name}.py").read_text()
    kind = "stdio" if name.startswith("stdio_") else "function"
    tests = list(expected.tests)
    listener = Listener() if name == "network" else None
    token = 700_000 + os.getpid() % 100_000
    if listener:
        tests = [TestCase(input=[listener.port], output=2 * listener.port)]
    elif name == "write_outside":
        tests = [TestCase(input=[token], output=2 * token)]
    try:
        result = sandbox.run_sync(program, kind, tests, "solve" if kind == "function" else None)
    finally:
        if listener:
            listener.close()

    # The verdict: every test failed, and the run says how.
    assert result.passed == 0, result
    assert result.status in expected.statuses, (result.status, result.error, [o.error for o in result.outcomes])
    assert result.backend == sandbox.backend
    # Nothing of the run is left, and nothing leaked.
    assert not marked_processes()
    assert not any(b"treesearch-hostile-leftover" in _cmdline(pid) for pid in _pids())
    seen = repr(result.to_dict())
    assert SECRET not in seen
    if listener:
        assert listener.connections == 0
    if name == "write_outside":
        for directory in ["/tmp", "/var/tmp", "/root", "/work", os.path.expanduser("~"), "/usr/lib", "/etc", "/"]:
            assert not Path(directory, f"treesearch-hostile-{token}").exists()
    # And the sandbox still works.
    fine = sandbox.run_sync("def solve(n):\n    return 2 * n\n", "function", TWO, "solve")
    assert fine.all_passed, fine


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
