"""LLM concurrency: B calls at concurrency C against a server that takes L seconds per request.

Target (DESIGN.md): the wall time of B calls is within 1.25 x the ideal B*L/C, for B = 64, C = 16,
L = 200 ms. Each configuration is run through ``LLMClient.complete`` (semaphore, requests prepared
in turns, retries wrapper, accounting; cache off), through bare ``litellm.acompletion`` under a
semaphore, and as plain aiohttp POSTs (the floor set by the server and the network), and reports the
wall time against the ideal and the client process's CPU time per call — litellm's cost per call,
which is what caps throughput on a small machine: the C calls of one latency period share one
interpreter, so each period stretches by a multiple of the CPU per call. Bare litellm interleaves
the preparation of the C requests a semaphore releases at once and sends them all at about the same
time, once nearly all are ready (at C = 16 the first request left after 16 ms, the last after
28 ms); LLMClient prepares them in turns, so each request leaves as soon as its own preparation is
done (see ``treesearch.llm.turns._Turn``).

The server is ``tests/llm_server.py`` (a real OpenAI-compatible HTTP server) started as a separate
process, so its CPU is not charged to the client. Every call's prompt is distinct. A warm-up batch
of C calls per path pays litellm's import and opens the C keep-alive connections before the clock
starts (a search makes hundreds of calls over the same pool). The paths' batches alternate
(LLMClient, bare litellm, raw HTTP, LLMClient, ...) so that a noisy machine's slow spells fall on
all of them alike, and the median of the repetitions is reported. ``--quick`` runs only the target
configuration; ``--json`` prints the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from treesearch.llm import LLMClient, load_litellm  # noqa: E402

MODEL = "openai/gpt-4o-mini"
TARGET = (64, 16, 0.2)  # B, C, L
FULL = [TARGET, (128, 32, 0.2), (256, 64, 0.2), (64, 4, 0.05), (256, 16, 0.05)]
TARGET_RATIO = 1.25
REPEATS = 5


def start_server(latency_s: float) -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "llm_server.py"), "--latency", str(latency_s)],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = server.stdout.readline().strip()
    if not line.startswith("url="):
        server.kill()
        raise RuntimeError(f"the LLM server did not start: {line!r}")
    return server, line.removeprefix("url=")


def messages(i: int) -> list[dict]:
    return [{"role": "user", "content": f"Write a function that returns {i}."}]


async def client_batch(url: str, calls: int, concurrency: int) -> Callable[[], Awaitable[None]]:
    client = LLMClient(MODEL, api_base=url, api_key="sk-bench", concurrency=concurrency, cache=None, max_attempts=1)
    await asyncio.gather(*(client.complete(messages(-1 - i)) for i in range(concurrency)))  # warm-up

    async def batch() -> None:
        await asyncio.gather(*(client.complete(messages(i)) for i in range(calls)))

    return batch


async def bare_batch(url: str, calls: int, concurrency: int) -> Callable[[], Awaitable[None]]:
    litellm = load_litellm()
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with semaphore:
            await litellm.acompletion(
                model=MODEL, messages=messages(i), api_base=url, api_key="sk-bench", num_retries=0, max_retries=0
            )

    await asyncio.gather(*(one(-1 - i) for i in range(concurrency)))  # warm-up

    async def batch() -> None:
        await asyncio.gather(*(one(i) for i in range(calls)))

    return batch


async def raw_http_batch(url: str, calls: int, concurrency: int) -> Callable[[], Awaitable[None]]:
    """The floor: the same requests as plain aiohttp POSTs, no litellm."""
    import aiohttp

    session = aiohttp.ClientSession()
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with semaphore:
            body = {"model": "gpt-4o-mini", "messages": messages(i)}
            async with session.post(f"{url}/chat/completions", json=body) as response:
                await response.json()

    await asyncio.gather(*(one(-1 - i) for i in range(concurrency)))  # warm-up

    async def batch() -> None:
        await asyncio.gather(*(one(i) for i in range(calls)))

    batch.close = session.close
    return batch


PATHS = (("LLMClient", client_batch), ("bare litellm", bare_batch), ("raw HTTP", raw_http_batch))
# Between two batches, off the clock: litellm finishes a call's success logging in a task of its own,
# which would otherwise run inside the next batch's time.
SETTLE_S = 0.1


async def measure(url: str, calls: int, concurrency: int, repeats: int) -> dict[str, dict]:
    """Each path's median wall time and CPU per call over ``repeats`` alternating batches."""
    batches = {path: await make_batch(url, calls, concurrency) for path, make_batch in PATHS}
    walls: dict[str, list[float]] = {path: [] for path in batches}
    cpus: dict[str, list[float]] = {path: [] for path in batches}
    for _ in range(repeats):
        for path, batch in batches.items():
            await asyncio.sleep(SETTLE_S)
            wall0, cpu0 = time.perf_counter(), time.process_time()
            await batch()
            walls[path].append(time.perf_counter() - wall0)
            cpus[path].append(time.process_time() - cpu0)
    for batch in batches.values():
        if hasattr(batch, "close"):
            await batch.close()
    return {
        path: {"wall_s": statistics.median(walls[path]), "cpu_ms_per_call": 1000 * statistics.median(cpus[path]) / calls}
        for path in batches
    }


def machine() -> dict:
    import litellm  # already imported by the runs

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count() or 0,
        "python": platform.python_version(),
        "litellm": getattr(litellm, "__version__", None) or _version("litellm"),
        "transport": "httpx" if litellm.disable_aiohttp_transport else "aiohttp (litellm default)",
        "server": "tests/llm_server.py, ThreadingHTTPServer, separate process, 127.0.0.1",
    }


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the target configuration (under a minute)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    configs = [TARGET] if args.quick else FULL
    rows = []
    servers = {}
    try:
        for calls, concurrency, latency in configs:
            if latency not in servers:
                servers[latency] = start_server(latency)
            url = servers[latency][1]
            for path, figures in asyncio.run(measure(url, calls, concurrency, REPEATS)).items():
                ideal = calls * latency / concurrency
                rows.append(
                    {
                        "path": path,
                        "calls": calls,
                        "concurrency": concurrency,
                        "latency_s": latency,
                        "ideal_s": ideal,
                        **figures,
                        "ratio": figures["wall_s"] / ideal,
                    }
                )
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait()
    target = next(r for r in rows if r["path"] == "LLMClient" and (r["calls"], r["concurrency"], r["latency_s"]) == TARGET)
    result = {
        "machine": machine(),
        "repeats": REPEATS,
        "rows": rows,
        "target": {"ratio": target["ratio"], "max_ratio": TARGET_RATIO, "met": target["ratio"] <= TARGET_RATIO},
    }
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)


def print_table(result: dict) -> None:
    m = result["machine"]
    print(
        f"machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, litellm {m['litellm']} ({m['transport']})\n"
        f"server: {m['server']}; median of {result['repeats']} alternating runs after a warm-up batch"
    )
    header = f"{'path':<13} {'B':>4} {'C':>3} {'L ms':>5} {'ideal s':>8} {'wall s':>7} {'wall/ideal':>10} {'CPU ms/call':>11}"
    print(header)
    print("-" * len(header))
    for r in result["rows"]:
        print(
            f"{r['path']:<13} {r['calls']:>4} {r['concurrency']:>3} {1000 * r['latency_s']:>5.0f} {r['ideal_s']:>8.2f}"
            f" {r['wall_s']:>7.2f} {r['ratio']:>10.2f} {r['cpu_ms_per_call']:>11.2f}"
        )
    t = result["target"]
    verdict = "met" if t["met"] else "NOT met"
    print(f"target B=64 C=16 L=200ms through LLMClient: wall/ideal {t['ratio']:.2f} <= {t['max_ratio']}: {verdict}")


if __name__ == "__main__":
    main()
