"""Local model: server throughput, and search wall time at concurrency 1 and 4, in one run.

1. **Server throughput.** For each llama.cpp server tried, the same GGUF (Qwen2.5-Coder-0.5B-Instruct
   Q4_K_M), the same threads (all cores) and the same context per request:

   - ``cpp``: the C++ ``llama-server`` the engine builds and manages (4 parallel slots, continuous
     batching);
   - ``python``: llama-cpp-python's own OpenAI-compatible server (``python -m llama_cpp.server``),
     given with ``--python-server PYTHON`` (an interpreter that has ``llama-cpp-python[server]``);
     it answers one request at a time.

   With P = 1, 2 and 4 requests in flight (raw HTTP, no client library in the way): prompt tokens/s
   (P requests of a ~500-token prompt, one completion token each) and completion tokens/s (P requests
   of a short prompt asking for a long answer, at most ``max_tokens`` tokens). Every prompt starts with
   a fresh number, so no request reuses another's prompt cache. Rates are total tokens over the wall
   time of the P requests.
2. **Search wall time.** ``search()`` (what ``treesearch solve`` runs) on example problems with the
   managed server (4 slots for both), MCTS at a budget of LLM calls, at concurrency K = 1 and K = 4,
   no cache, and without stopping at the first solution, so that both spend their budget unless the
   tree runs out of leaves. Searches that made different numbers of calls are compared per call: the
   ratio is K=1's seconds per call over K=4's, on the same problem in the same run.

``--quick`` measures less (shorter answers, one problem, a smaller budget); ``--json`` prints the
figures as one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.machine_info import cores, cpu_model  # noqa: E402
from treesearch.local import KNOWN, serve  # noqa: E402
from treesearch.local.server import SLOT_CONTEXT, free_port, stop_all  # noqa: E402

MODEL = "local/qwen2.5-coder-0.5b"
PARALLEL = (1, 2, 4)
LONG_PROMPT = "Summarise what this code does in one word.\n\n" + "\n".join(
    f"def f{i}(x):\n    return x * {i} + {i * i}  # step {i}" for i in range(40))
LONG_ANSWER = "Write a long Python module with ten different sorting algorithms, each with a docstring."
_fresh = itertools.count(1)


async def _post(session, url: str, body: dict) -> dict:
    async with session.post(url + "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        return await response.json()


async def _rates(url: str, model: str, parallel: int, max_tokens: int) -> dict:
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=1800)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async def batch(prompt: str, tokens: int) -> tuple[float, list[dict]]:
            started = time.perf_counter()
            bodies = [{"model": model, "temperature": 0.0, "max_tokens": tokens,
                       "messages": [{"role": "user", "content": f"Request {next(_fresh)}. {prompt}"}]}
                      for _ in range(parallel)]
            answers = await asyncio.gather(*(_post(session, url, b) for b in bodies))
            return time.perf_counter() - started, answers

        await batch("Say hi.", 1)  # warm-up: the connection pool, the first graph
        wall_p, answers_p = await batch(LONG_PROMPT, 1)
        wall_c, answers_c = await batch(LONG_ANSWER, max_tokens)
    prompt = sum(a["usage"]["prompt_tokens"] for a in answers_p)
    completion = sum(a["usage"]["completion_tokens"] for a in answers_c)
    return {"parallel": parallel, "prompt_tokens": prompt, "prompt_tok_s": prompt / wall_p,
            "completion_tokens": completion, "completion_tok_s": completion / wall_c, "completion_wall_s": wall_c}


def _python_server(python: str, weights: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [python, "-m", "llama_cpp.server", "--model", str(weights), "--host", "127.0.0.1", "--port", str(port),
               "--n_ctx", str(SLOT_CONTEXT), "--n_threads", str(cores()), "--n_threads_batch", str(cores()),
               "--model_alias", "bench"]
    process = subprocess.Popen(command, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Python server exited: {log.read_text()[-500:]}")
        try:
            with urllib.request.urlopen(url + "/v1/models", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("the Python server did not become ready")


def server_table(args: argparse.Namespace, workdir: Path) -> list[dict]:
    rows = []
    max_tokens = 64 if args.quick else 256
    server = serve(MODEL, slots=max(PARALLEL), log_dir=workdir / "cpp")
    for parallel in PARALLEL:
        rows.append({"server": "cpp", **asyncio.run(_rates(server.url, server.model.alias, parallel, max_tokens))})
    if args.python_server:
        process, url = _python_server(args.python_server, _weights(), workdir / "python-server.log")
        try:
            for parallel in PARALLEL:
                rows.append({"server": "python", **asyncio.run(_rates(url, "bench", parallel, max_tokens))})
        finally:
            process.terminate()
            process.wait(30)
    return rows


def _weights() -> Path:
    from treesearch.local.weights import find_weights

    found = find_weights(KNOWN["qwen2.5-coder-0.5b"])
    assert found is not None
    return found


def search_table(args: argparse.Namespace, workdir: Path) -> list[dict]:
    from treesearch import search

    problems = ["two_sum"] if args.quick else ["fizzbuzz", "two_sum", "run_length_encoding", "balanced_brackets"]
    budget = 4 if args.quick else 8
    serve(MODEL, slots=4, log_dir=workdir / "cpp")  # one server for both K: K=1 uses one of its slots
    rows = []
    for name in problems:
        row = {"problem": name, "budget": budget}
        for k in (1, 4):
            result = search(str(REPO / "examples" / "problems" / f"{name}.json"), model=MODEL, strategy="mcts",
                            budget=budget, concurrency=k, seed=0, cache=False, out=workdir / f"{name}-k{k}",
                            config={"early_stop": False})
            row[f"k{k}_wall_s"] = result.stats["wall_s"]
            row[f"k{k}_calls"] = result.stats["llm_calls"]
            row[f"k{k}_solved"] = result.solved
            row[f"k{k}_stopped"] = result.stopped_because
        per_call = {k: row[f"k{k}_wall_s"] / max(1, row[f"k{k}_calls"]) for k in (1, 4)}
        row["k1_s_per_call"], row["k4_s_per_call"] = per_call[1], per_call[4]
        row["speedup_per_call"] = per_call[1] / per_call[4]
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter answers, one problem, budget 4")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--python-server", metavar="PYTHON",
                        help="an interpreter with llama-cpp-python[server], to measure its server too")
    parser.add_argument("--skip-search", action="store_true", help="only the server table")
    parser.add_argument("--skip-servers", action="store_true", help="only the search table")
    args = parser.parse_args()
    machine = {"cpu": cpu_model(), "cores": cores(), "model": MODEL, "threads": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="local-bench-") as tmp:
        workdir = Path(tmp)
        try:
            servers = [] if args.skip_servers else server_table(args, workdir)
            searches = [] if args.skip_search else search_table(args, workdir)
        finally:
            stop_all()
    if args.json:
        print(json.dumps({"machine": machine, "servers": servers, "searches": searches}, indent=2))
        return 0
    print(f"# {machine['cpu']}, {machine['cores']} cores; {MODEL} (Q4_K_M); threads = cores")
    print(f"{'server':<8}{'in flight':>10}{'prompt tok/s':>14}{'completion tok/s':>18}{'completion tokens':>19}")
    for r in servers:
        print(f"{r['server']:<8}{r['parallel']:>10}{r['prompt_tok_s']:>14.1f}{r['completion_tok_s']:>18.1f}"
              f"{r['completion_tokens']:>19}")
    by = {(r["server"], r["parallel"]): r for r in servers}
    for server in ("cpp", "python"):
        if (server, 1) in by and (server, 4) in by:
            print(f"{server}: completion tok/s at 4 in flight / at 1 = "
                  f"{by[(server, 4)]['completion_tok_s'] / by[(server, 1)]['completion_tok_s']:.2f}x")
    if ("python", 1) in by:
        for p in PARALLEL:
            print(f"cpp / python completion tok/s at {p} in flight: "
                  f"{by[('cpp', p)]['completion_tok_s'] / by[('python', p)]['completion_tok_s']:.2f}x")
    if searches:
        print(f"\n{'problem':<22}{'budget':>7}{'K=1 wall s':>12}{'calls':>6}{'s/call':>8}{'K=4 wall s':>12}{'calls':>6}"
              f"{'s/call':>8}{'K1/K4 per call':>16}  stopped (K=1 | K=4)")
        for r in searches:
            print(f"{r['problem']:<22}{r['budget']:>7}{r['k1_wall_s']:>12.1f}{r['k1_calls']:>6}{r['k1_s_per_call']:>8.2f}"
                  f"{r['k4_wall_s']:>12.1f}{r['k4_calls']:>6}{r['k4_s_per_call']:>8.2f}{r['speedup_per_call']:>16.2f}"
                  f"  {r['k1_stopped']} | {r['k4_stopped']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
