"""Without bubblewrap, model-written code gets no sandbox unless the user says so.

Every command that runs a model's code (solve, demo, eval, swebench, evolve), and ``search()``, stops
before the first model call — the model's server is a TCP listener here, and it must see no
connection — with one error that says why and both ways out (install bubblewrap, or opt in with
``--sandbox unsafe-rlimit``). With the opt-in, a hostile model's programs run on the rlimit backend
and are contained: the engine finishes, nothing reaches the network, nothing is written outside.
``--model sim`` falls back to the rlimit backend by itself, and says so.

bubblewrap is hidden by giving the command a PATH without it (the commands need nothing else from
PATH: the interpreter is started by its absolute path).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.llm_server import LLMServer
from tests.test_sandbox_hostile import Listener as HostileListener
from treesearch.api import search
from treesearch.sandbox import SandboxError, backends

ROOT = Path(__file__).resolve().parents[1]
TWO_SUM = ROOT / "examples" / "problems" / "two_sum.json"
REFUSAL = ("bubblewrap (bwrap) is not installed", "apt-get install bubblewrap", "make sandbox-deps",
           "--sandbox unsafe-rlimit")


class Listener(HostileListener):
    """A TCP server standing in for the model's API: it records every connection."""

    def __init__(self) -> None:
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}/v1"


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def no_bwrap_env(tmp_path: Path) -> dict[str, str]:
    empty = tmp_path / "bin-without-bwrap"
    empty.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("TREESEARCH_MODEL", "TREESEARCH_API_BASE")}
    env.update(PATH=str(empty), OPENAI_API_KEY="sk-test-not-used", XDG_CACHE_HOME=str(tmp_path / "cache"))
    return env


def treesearch(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "treesearch.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


COMMANDS = {
    "solve": ["solve", str(TWO_SUM)],
    "solve --sandbox bwrap": ["solve", str(TWO_SUM), "--sandbox", "bwrap"],
    "demo": ["demo", "--problems", str(TWO_SUM)],
    "eval": ["eval", "--dataset", "humaneval", "--limit", "1"],
    "swebench": ["swebench"],
    "evolve": ["evolve", "--dataset", "humaneval", "--generations", "1"],
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_stops_before_the_first_model_call(name, listener, tmp_path):
    args = [*COMMANDS[name], "--model", "openai/x", "--api-base", listener.url]
    if name.split()[0] != "solve":
        args += ["--out", str(tmp_path / "out")]
    done = treesearch(args, no_bwrap_env(tmp_path), tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    expected = REFUSAL if name != "solve --sandbox bwrap" else REFUSAL[:3]
    for part in expected:
        assert part in errors[0], errors[0]
    assert listener.connections == 0  # no model call, not even a connection
    assert not (tmp_path / "runs").exists()


def test_search_refuses_before_the_first_model_call(listener, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    backends._probe_bwrap.cache_clear()
    try:
        with pytest.raises(SandboxError) as refused:
            search(TWO_SUM, model="openai/x", api_base=listener.url, budget=2, cache=None, out=tmp_path / "run")
        for part in REFUSAL:
            assert part in str(refused.value)
        assert 'sandbox_backend="unsafe-rlimit"' in str(refused.value)
        assert listener.connections == 0
        # The simulated coder's programs (mutations of the reference solution) may fall back.
        with pytest.warns(RuntimeWarning, match="trusted code, bubblewrap unavailable"):
            result = search(TWO_SUM, model="sim", budget=4)
        assert result.stats["executions"] > 0
    finally:
        monkeypatch.undo()
        backends._probe_bwrap.cache_clear()


def test_sim_falls_back_to_the_rlimit_backend_and_says_so(tmp_path):
    done = treesearch(["solve", str(TWO_SUM), "--model", "sim", "--budget", "4", "--out", str(tmp_path / "run")],
                      no_bwrap_env(tmp_path), tmp_path)
    assert done.returncode in (0, 3), done.stderr
    assert "sandbox: backend rlimit (trusted code, bubblewrap unavailable" in done.stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["sandbox_backend"] == "rlimit"


# A model whose every program attacks the engine: it kills every process it may signal, writes where it
# should not, and calls home; its answers are wrong, so the search goes on until the budget is spent.
HOSTILE = '''```python
import os, signal, socket

def two_sum(nums, target):
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.kill(os.getppid(), signal.SIGKILL)
    except OSError:
        pass
    for directory in ["/tmp", "/var/tmp", "/dev/shm", os.path.dirname(os.getcwd()), "{out}"]:
        try:
            with open(os.path.join(directory, "treesearch-hostile-{token}"), "w") as f:
                f.write("escaped")
        except OSError:
            pass
    for address in [("127.0.0.1", {port}), ("1.1.1.1", 53)]:
        try:
            socket.create_connection(address, timeout=0.3).sendall(b"escaped")
        except OSError:
            pass
    return [-1, -1]
```'''


def test_with_unsafe_rlimit_a_hostile_model_is_contained(listener, tmp_path):
    backend = backends.probe_backend("unsafe-rlimit")
    missing = {"files", "network", "signals"} - backend.isolates
    if missing:
        pytest.skip(f"the rlimit backend cannot contain {sorted(missing)} here: {backend.warnings}")
    token = f"{os.getpid()}-{id(listener)}"
    out = tmp_path / "run"
    code = HOSTILE.format(token=token, port=listener.port, out=out)

    def reply(request: dict) -> str:
        prompt = request["messages"][-1]["content"]
        if "Propose" in prompt:
            return json.dumps([{"strategy": "Check every pair.", "confidence": 0.9}])
        if "wrong_step" in prompt:
            return json.dumps({"wrong_step": 0, "rewrite": "", "reason": "the code is wrong"})
        if "Score:" in prompt:
            return "Score: 1"
        return code

    with LLMServer(reply=reply) as model:
        done = treesearch(["solve", str(TWO_SUM), "--model", "openai/x", "--api-base", model.url, "--budget", "4",
                           "--sandbox", "unsafe-rlimit", "--out", str(out)], no_bwrap_env(tmp_path), tmp_path)
        calls = model.request_count
    assert done.returncode == 3, done.stdout + done.stderr  # the engine finished: not solved
    assert "sandbox: backend rlimit (chosen with unsafe-rlimit)" in done.stderr
    assert calls > 0
    assert json.loads((out / "result.json").read_text())["stats"]["executions"] > 0
    assert listener.connections == 0
    for directory in ["/tmp", "/var/tmp", "/dev/shm", str(out)]:
        assert not Path(directory, f"treesearch-hostile-{token}").exists(), directory
