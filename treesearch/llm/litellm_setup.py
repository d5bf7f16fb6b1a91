"""litellm, imported on first use and set up for the whole process.

litellm takes seconds to import, so it is imported on first use (:func:`load_litellm`), configured
for offline operation: the bundled cost map, no fetches of its own. The set-up is process-wide:
environment variables, litellm's module settings, an input callback that ends each
:class:`~treesearch.llm.client.LLMClient` call's turn (see :mod:`treesearch.llm.turns`), and a
frozen garbage collector.
"""

from __future__ import annotations

import functools
import gc
import os
from typing import Any

from treesearch.llm.turns import _current_turn


@functools.cache
def load_litellm() -> Any:
    """litellm, imported on first use and set to offline operation."""
    # Read at import time: use the cost map bundled with the package and never fetch catalogs,
    # tokenizers or anything else on litellm's own initiative.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_OFFLINE_MODE", "True")
    import litellm

    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banner on every error
    litellm.input_callback.append(_request_sent_hook())
    # litellm's import leaves ~400k long-lived objects (its model tables) that every full garbage
    # collection would walk again: a 0.3 s pause in the middle of a batch of calls. Freezing moves
    # everything alive now out of the collector's sight.
    gc.collect()
    gc.freeze()
    return litellm


def _request_sent_hook() -> Any:
    """The litellm input callback that ends a call's turn (see :class:`~treesearch.llm.turns._Turn`).

    litellm calls its input callbacks' ``log_pre_api_call`` once a request is prepared, just before
    it goes to the provider, on every provider's path. Outside an
    :class:`~treesearch.llm.client.LLMClient` call (no turn in the context) it does nothing.
    """

    from litellm.integrations.custom_logger import CustomLogger

    class RequestSent(CustomLogger):
        def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
            turn = _current_turn.get()
            if turn is not None:
                turn.end_from_litellm()

    return RequestSent()
