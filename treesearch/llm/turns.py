"""Requests prepared in turns: litellm spends milliseconds of CPU on each request before sending it,
and calls that prepare one after another are each sent as soon as their own preparation is done."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading

# The longest a request's preparation holds the turn (see _Turn): ~50 times what it takes (~2 ms of
# litellm's CPU), so a preparation that waits on something slow (a credential refresh) or a model
# whose requests litellm does not report holds up the calls queued behind it by at most this much.
MAX_TURN_S = 0.1


class _Turn:
    """One call's turn at preparing its request in litellm.

    ``litellm.acompletion`` spends about 2 ms of CPU on a request before sending it (parameter
    mapping, logging set-up, the OpenAI SDK's request building) and yields to the event loop midway,
    for a hop through its thread pool. Calls started together therefore interleave their
    preparations and are all sent at about the same time, once nearly all are ready: with 16 calls
    released at once by the semaphore, the first request left after 16 ms and the last after 28 ms,
    and their responses came back in a bunch, to be processed while the next requests waited again.
    Taking turns (an asyncio lock, first come first served) sends them one after another, each as
    soon as its own preparation is done (the first after ~3 ms, then one every ~2 ms): a call waits
    for the preparations queued before it, never for those queued after it.

    A turn ends once, at the first of: litellm reporting the request sent (the hook that
    :func:`~treesearch.llm.litellm_setup.load_litellm` installs, possibly from litellm's thread
    pool), the end of the call, or MAX_TURN_S.
    """

    def __init__(self, lock: asyncio.Lock) -> None:
        self._lock = lock
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._timer = self._loop.call_later(MAX_TURN_S, self.end)
        self._ended = False
        self.reported = False  # litellm reported the request sent

    def end(self) -> None:
        if not self._ended:
            self._ended = True
            self._timer.cancel()
            self._lock.release()

    def end_from_litellm(self) -> None:
        self.reported = True
        if threading.get_ident() == self._thread:
            self.end()
        else:  # a provider path that litellm runs in its thread pool: the lock belongs to the loop
            with contextlib.suppress(RuntimeError):  # the loop has closed (the run ended): no one waits
                self._loop.call_soon_threadsafe(self.end)


# The turn of the LLMClient call running in this context, for the litellm hook to end.
_current_turn: contextvars.ContextVar[_Turn | None] = contextvars.ContextVar("treesearch_llm_turn", default=None)
