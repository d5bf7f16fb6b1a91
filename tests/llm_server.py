"""A local OpenAI-compatible chat-completions server for tests and benchmarks.

No LLM service is reachable where treesearch is built, so every LLM test talks real HTTP to this
server, through real litellm, as ``openai/<name>`` with ``api_base=server.url``.

Usage::

    from tests.llm_server import LLMServer, llm_server_fixture  # noqa: F401 (provides the llm_server fixture)

    with LLMServer(reply=lambda request: "```python\\ndef f(): return 1\\n```") as server:
        client = LLMClient("openai/gpt-4o-mini", **server.client_kwargs(), cache=None)
        ...
        assert server.request_count == 1

    def test_something(llm_server):          # a started server with the defaults below
        llm_server.reply = "Score: 7/10"      # attributes can be changed while it runs
        llm_server.inject("rate_limit", "server_error")

API (all attributes are read on every request, so tests may change them at any time):

- ``reply``: what each choice says. ``None`` (default) gives ``"reply <k>"`` with a running counter, so
  every served choice is distinct; a ``str`` is returned every time; a ``list[str]`` is a script popped
  one choice at a time (an empty script answers 500); a callable ``reply(request_json) -> str`` is
  called once per choice with the parsed request body (``messages``, ``n``, ``model``, ...), which lets
  a test script a whole policy conversation.
- ``latency_s``: seconds each request takes before answering.
- ``n_mode``: how ``n > 1`` is handled: ``"native"`` (n choices), ``"refuse"`` (400 like llama.cpp's
  "Only one completion choice is allowed") or ``"ignore"`` (one choice, like Ollama).
- ``inject(*faults)``: queue one-shot faults, consumed in order by the next requests:
  ``"rate_limit"`` (429 with ``Retry-After: retry_after_s``), ``"server_error"`` (500),
  ``"unavailable"`` (503), ``"hang"`` (no answer until ``hang_s`` passes or the server closes),
  ``"disconnect"`` (the connection closed without an answer),
  ``"malformed"`` (200 with broken JSON), ``"empty_choices"`` (200 with ``choices: []``),
  ``"truncated"`` (the reply cut in half, ``finish_reason: "length"``), ``"bad_request"`` (400) and
  ``"unauthorized"`` (401).
- Usage: a choice's completion tokens are its whitespace-separated words, the prompt tokens the
  words of all message contents (counted once per request, as providers bill ``n`` choices).
  ``max_tokens`` is honoured: a longer reply is cut to that many words with ``finish_reason: "length"``.
  ``served`` totals what 200 answers reported: ``prompt_tokens``, ``completion_tokens``, ``choices``.
- ``fault_rate`` / ``fault_kinds`` / ``fault_seed``: besides queued faults, each request gets a fault with
  probability ``fault_rate``, drawn uniformly from ``fault_kinds`` by a generator seeded with
  ``fault_seed`` (the same sequence of draws on every run).
- ``request_count`` and ``requests`` (a log of :class:`RequestRecord`: body, fault, status) count every
  HTTP request received, including faulted ones; ``max_in_flight`` is the most requests it was
  answering at once; ``reset()`` clears them, ``served`` and the fault queue.

Run it by hand or from a benchmark as a separate process:
``python tests/llm_server.py --latency 0.2`` prints ``url=http://127.0.0.1:PORT/v1`` and serves until killed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import itertools
import json
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

try:
    import pytest
except ImportError:  # the benchmark runs this server without the dev dependencies installed
    pytest = None

FAULTS = (
    "rate_limit",
    "server_error",
    "unavailable",
    "hang",
    "disconnect",
    "malformed",
    "empty_choices",
    "truncated",
    "bad_request",
    "unauthorized",
)
N_MODES = ("native", "refuse", "ignore")
# llama.cpp's words when asked for n > 1.
N_REFUSAL_MESSAGE = "Only one completion choice is allowed"

Reply = str | list[str] | Callable[[dict], str] | None


@dataclass
class RequestRecord:
    body: dict | None
    fault: str | None
    status: int  # 0 while in progress, and for a hang (answered by closing the connection)


def count_words(text: str) -> int:
    return len(text.split())


class LLMServer:
    """The server; a context manager. See the module docstring for the API."""

    def __init__(
        self,
        reply: Reply = None,
        latency_s: float = 0.0,
        n_mode: str = "native",
        retry_after_s: float = 0.05,
        hang_s: float = 30.0,
        host: str = "127.0.0.1",
        port: int = 0,
        fault_rate: float = 0.0,
        fault_kinds: tuple[str, ...] = ("rate_limit", "server_error", "unavailable", "hang", "disconnect",
                                        "malformed", "empty_choices"),
        fault_seed: int = 0,
    ) -> None:
        self.reply = reply
        self.fault_rate = fault_rate
        self.fault_kinds = fault_kinds
        self._fault_rng = random.Random(fault_seed)
        self.latency_s = latency_s
        self.n_mode = n_mode
        self.retry_after_s = retry_after_s
        self.hang_s = hang_s
        self._lock = threading.Lock()
        self._faults: collections.deque[str] = collections.deque()
        self._reply_counter = itertools.count()
        self._closed = threading.Event()
        self._connections: set[socket.socket] = set()
        self.requests: list[RequestRecord] = []
        self.served = {"prompt_tokens": 0, "completion_tokens": 0, "choices": 0}
        self._in_flight = 0
        self.max_in_flight = 0
        self._httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        # A short poll interval: shutdown() waits for one, and tests start and stop many servers.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="llm-server", daemon=True
        )

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """The ``api_base`` to give litellm."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def request_count(self) -> int:
        return len(self.requests)

    def client_kwargs(self) -> dict[str, str]:
        """``api_base`` and a dummy ``api_key`` for an ``LLMClient`` or ``litellm.acompletion``."""
        return {"api_base": self.url, "api_key": "sk-local-test"}

    def inject(self, *faults: str) -> None:
        unknown = [f for f in faults if f not in FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; known: {FAULTS}")
        with self._lock:
            self._faults.extend(faults)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self.served = {"prompt_tokens": 0, "completion_tokens": 0, "choices": 0}
            self.max_in_flight = 0

    def start(self) -> LLMServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closed.set()  # releases hanging handlers
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:  # keep-alive connections outlive the listening socket: end them too
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- request handling (called from handler threads) --

    def _next_fault(self) -> str | None:
        with self._lock:
            if self._faults:
                return self._faults.popleft()
            if self.fault_rate and self._fault_rng.random() < self.fault_rate:
                return self._fault_rng.choice(self.fault_kinds)
            return None

    def _reply_text(self, request: dict) -> str | None:
        """One choice's text; None when a scripted reply list has run out."""
        reply = self.reply
        if reply is None:
            return f"reply {next(self._reply_counter)}"
        if isinstance(reply, str):
            return reply
        if callable(reply):
            return reply(request)
        with self._lock:
            return reply.pop(0) if reply else None

    def handle(self, body: dict | None) -> tuple[int, dict[str, str], bytes]:
        """Status, extra headers and body for one request."""
        fault = self._next_fault()
        n = int((body or {}).get("n") or 1)
        if fault is None and n > 1 and self.n_mode == "refuse":
            fault = "refuse_n"
        record = RequestRecord(body=body, fault=fault, status=0)
        with self._lock:
            self.requests.append(record)  # on arrival: a hanging request counts at once
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self.latency_s:
                self._closed.wait(self.latency_s)
            status, headers, payload = self._answer(body, fault, n)
        finally:
            with self._lock:
                self._in_flight -= 1
        record.status = status
        return status, headers, payload

    def _answer(self, body: dict | None, fault: str | None, n: int) -> tuple[int, dict[str, str], bytes]:
        if body is None:
            return _error(400, "request body is not JSON", "invalid_request_error")
        if fault in ("hang", "disconnect"):
            if fault == "hang":
                self._closed.wait(self.hang_s)
            return 0, {}, b""  # the handler closes the connection without an answer
        if fault == "rate_limit":
            status, headers, payload = _error(429, "Rate limit reached, slow down", "rate_limit_error")
            return status, {**headers, "Retry-After": f"{self.retry_after_s:g}"}, payload
        if fault == "server_error":
            return _error(500, "The server had an error while processing your request", "server_error")
        if fault == "unavailable":
            return _error(503, "The engine is currently overloaded", "server_error")
        if fault == "bad_request":
            return _error(400, "Invalid value for 'messages'", "invalid_request_error")
        if fault == "unauthorized":
            return _error(401, "Incorrect API key provided", "invalid_request_error")
        if fault == "refuse_n":
            return _error(400, N_REFUSAL_MESSAGE, "invalid_request_error")
        if fault == "malformed":
            return 200, {}, b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"ind'
        prompt_tokens = sum(count_words(str(m.get("content") or "")) for m in body.get("messages", []))
        if fault == "empty_choices":
            return self._completion(body, [], prompt_tokens=0)
        choices = []
        for index in range(1 if self.n_mode == "ignore" else n):
            text = self._reply_text(body)
            if text is None:
                return _error(500, "LLMServer: the scripted reply list is empty", "server_error")
            words = text.split()
            max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
            finish_reason = "stop"
            if fault == "truncated":
                text, finish_reason = " ".join(words[: len(words) // 2]), "length"
            elif max_tokens is not None and len(words) > max_tokens:
                text, finish_reason = " ".join(words[:max_tokens]), "length"
            choices.append(
                {
                    "index": index,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish_reason,
                }
            )
        return self._completion(body, choices, prompt_tokens)

    def _completion(self, body: dict, choices: list[dict], prompt_tokens: int) -> tuple[int, dict, bytes]:
        completion_tokens = sum(count_words(c["message"]["content"]) for c in choices)
        with self._lock:
            self.served["prompt_tokens"] += prompt_tokens
            self.served["completion_tokens"] += completion_tokens
            self.served["choices"] += len(choices)
        payload = {
            "id": f"chatcmpl-{time.monotonic_ns()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model", "local")),
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return 200, {}, json.dumps(payload).encode()


def _error(status: int, message: str, kind: str) -> tuple[int, dict[str, str], bytes]:
    return status, {}, json.dumps({"error": {"message": message, "type": kind, "code": status}}).encode()


def _make_handler(server: LLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real providers do
        disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stall

        def setup(self) -> None:
            super().setup()
            with server._lock:
                server._connections.add(self.connection)

        def finish(self) -> None:
            with server._lock:
                server._connections.discard(self.connection)
            super().finish()

        def do_POST(self) -> None:  # noqa: N802 (the http.server naming)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if not self.path.rstrip("/").endswith("/chat/completions"):
                status, headers, payload = _error(404, f"no route {self.path}", "not_found")
            else:
                status, headers, payload = server.handle(body)
            if status == 0:
                self.close_connection = True
                return
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the http.server signature)
            pass  # tests stay quiet

    return Handler


# Bodies that pass some tests of a typical function problem on a list but never all of them.
WRONG_BODIES = ("return None", "return 0", "return len(args[0])", "return sum(args[0])",
                "return max(0, sum(args[0]))", "return sum(abs(x) for x in args[0])")


def wrong_coder(entry_point: str, jitter_s: float = 0.0) -> Callable[[dict], str]:
    """A ``reply`` for whole searches that never end early: plans, rethinks and critiques in the
    formats the LLM policy asks for, and programs for ``entry_point`` that fail some visible tests.
    Each reply is a function of the request (a digest of its messages), sent after a random delay of
    up to ``jitter_s`` seconds so that concurrent replies come back in a different order each run."""

    def reply(request: dict) -> str:
        time.sleep(random.uniform(0.0, jitter_s))
        prompt = request["messages"][-1]["content"]
        pick = int(hashlib.sha256(json.dumps(request["messages"]).encode()).hexdigest(), 16)
        if "Propose" in prompt:
            return json.dumps([{"strategy": f"Plan {pick % 97 + i}: work through the input once.",
                                "confidence": 0.2 + 0.1 * i} for i in range(3)])
        if "wrong_step" in prompt:
            return json.dumps({"wrong_step": 1, "rewrite": f"Plan {pick % 89}: mind the edge cases.",
                               "reason": "an edge case fails"})
        if "Score:" in prompt:
            return f"Looks plausible.\nScore: {pick % 10}"
        return f"```python\ndef {entry_point}(*args):\n    {WRONG_BODIES[pick % len(WRONG_BODIES)]}\n```"

    return reply


if pytest is not None:

    @pytest.fixture(name="llm_server")
    def llm_server_fixture() -> Iterator[LLMServer]:
        """A started :class:`LLMServer` with the default settings, closed after the test."""
        with LLMServer() as server:
            yield server


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the test LLM server until killed.")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--n-mode", choices=N_MODES, default="native")
    args = parser.parse_args()
    with LLMServer(latency_s=args.latency, n_mode=args.n_mode, port=args.port) as server:
        print(f"url={server.url}", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
