"""The command line's small promises: a malformed option says what it expected, every command that
runs model code takes ``--sandbox``, and run-directory files get the mode the umask gives any file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from treesearch.cli import build_parser, main
from treesearch.export.files import write_atomic

ROOT = Path(__file__).resolve().parents[1]
TWO_SUM = str(ROOT / "examples" / "problems" / "two_sum.json")

BAD_OPTIONS = [
    (["solve", TWO_SUM, "--budget", "abc"], "argument --budget: expected a positive whole number of LLM calls, got 'abc'"),
    (["solve", TWO_SUM, "--budget", "0"], "argument --budget: expected a positive whole number of LLM calls, got '0'"),
    (["solve", TWO_SUM, "--concurrency", "-2"], "argument --concurrency: expected a positive whole number of expansions"),
    (["solve", TWO_SUM, "--seed", "x"], "argument --seed: expected a whole number, got 'x'"),
    (["demo", "--budget", "1.5"], "argument --budget: expected a positive whole number of LLM calls, got '1.5'"),
    (["eval", "--dataset", "humaneval", "--out", "o", "--limit", "none"],
     "argument --limit: expected a positive whole number of problems, got 'none'"),
    (["eval", "--dataset", "humaneval", "--out", "o", "--workers", "0"],
     "argument --workers: expected a positive whole number of problems searched at once, got '0'"),
    (["swebench", "--out", "o", "--max-cost", "free"], "argument --max-cost: expected a positive number of USD, got 'free'"),
    (["swebench", "--out", "o", "--max-total-cost", "-1"],
     "argument --max-total-cost: expected a positive number of USD, got '-1'"),
    (["swebench", "--out", "o", "--max-cost", "nan"], "argument --max-cost: expected a positive number of USD, got 'nan'"),
    (["swebench", "--out", "o", "--max-steps", "many"], "argument --max-steps: expected a positive whole number of actions"),
    (["evolve", "--dataset", "humaneval", "--out", "o", "--generations", "-1"],
     "argument --generations: expected a whole number >= 0 of generations, got '-1'"),
    (["evolve", "--dataset", "humaneval", "--out", "o", "--stage-sizes", "10", "x"],
     "argument --stage-sizes: expected a positive whole number of problems, got 'x'"),
    (["evolve", "--dataset", "humaneval", "--out", "o", "--stage-timeout", "0"],
     "argument --stage-timeout: expected a positive number of seconds, got '0'"),
    (["evolve", "--dataset", "humaneval", "--out", "o", "--thresholds", "high"],
     "argument --thresholds: expected a number, got 'high'"),
    (["solve", TWO_SUM, "--sandbox", "none"], "argument --sandbox: invalid choice: 'none' (choose from"),
    (["swebench-eval", "--predictions", "p.jsonl", "--repos-dir", "r", "--out", "o", "--limit", "0"],
     "argument --limit: expected a positive whole number of instances, got '0'"),
    (["swebench-eval", "--repos-dir", "r", "--out", "o"], "the following arguments are required: --predictions"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_OPTIONS, ids=[" ".join(a[:1] + a[-2:]) for a, _ in BAD_OPTIONS])
def test_a_malformed_option_says_what_it_expected(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "invalid" not in err or "invalid choice" in message


@pytest.mark.parametrize("command", ["demo", "solve", "eval", "swebench", "swebench-eval", "evolve"])
def test_every_command_that_runs_model_code_takes_sandbox(command):
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    option = next(a for a in subparsers.choices[command]._actions if a.dest == "sandbox")
    assert option.default == "auto"
    assert tuple(option.choices) == ("auto", "bwrap", "unsafe-rlimit")


@pytest.fixture
def umask():
    def set_umask(value: int) -> None:
        os.umask(value)

    old = os.umask(0o022)
    yield set_umask
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_run_directory_files_get_the_umasks_mode(mask, umask, tmp_path):
    umask(mask)
    out = tmp_path / "run"
    assert main(["solve", TWO_SUM, "--model", "sim", "--budget", "6", "--out", str(out)]) in (0, 3)
    files = sorted(p for p in out.rglob("*") if p.is_file())
    names = {p.name for p in files}
    assert {"config.json", "events.jsonl", "result.json", "tree.json"} <= names
    assert not any(name.endswith(".tmp") for name in names)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files}
    assert modes == dict.fromkeys(modes, 0o666 & ~mask)


def test_write_atomic_replaces_with_the_umasks_mode(umask, tmp_path):
    target = tmp_path / "file.json"
    target.write_text("old")
    target.chmod(0o600)
    umask(0o022)
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["file.json"]
