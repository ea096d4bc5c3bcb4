"""Keep the conversation's cache across a side task on the same llama.cpp model, and keep
each side task's own prompt cached for its next time.

llama-cpp-python keeps one KV cache per ``Llama`` and reuses it for the longest common
prefix of the next prompt. Writing a tool's arguments (``tool_router.extract_arguments``)
runs a prompt of its own on the same model, so the answer that follows used to evaluate the
whole conversation again (a tool turn four requests into a chat: 2.5 -> 1.7 s), and the
argument prompt (the tool's description and parameters, ~60 tokens) was evaluated afresh
on every call. ``kept_cache`` copies the context's state (the used KV cells and the token
ids it holds; a few MB) before the side task and puts it back after, as
``Llama.save_state``/``load_state`` do without their copy of the whole logits buffer
(n_batch x vocabulary floats: ~300 MB for Qwen2.5). ``SideCaches`` keeps the state each
side task ended in, by key, and starts the next run of it there.
"""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from loguru import logger


@dataclass(frozen=True)
class CacheState:
    """A copy of a context's state and of the tokens it holds."""

    data: Any  # ctypes byte array
    used: int
    ids: Any  # numpy array of token ids


def snapshot(llama: Any) -> CacheState | None:
    """``llama``'s context as it is now; None if this llama-cpp-python has other members
    (``tests/local/test_llama_cache.py`` pins them)."""
    import llama_cpp

    try:
        ctx = llama._ctx.ctx
        ids = llama.input_ids[: llama.n_tokens].copy()
    except AttributeError as e:
        logger.debug(f"llama cache: not kept ({e})")
        return None
    size = llama_cpp.llama_state_get_size(ctx)
    data = (ctypes.c_uint8 * size)()
    used = llama_cpp.llama_state_get_data(ctx, data, size)
    return CacheState(data, int(used), ids)


def restore(llama: Any, state: CacheState) -> None:
    """Put ``state`` back; if llama.cpp refuses it, the cache is forgotten (the next prompt
    is read whole), never left claiming tokens it does not hold."""
    import llama_cpp

    if llama_cpp.llama_state_set_data(llama._ctx.ctx, state.data, state.used) != state.used:
        llama.n_tokens = 0
        return
    n = len(state.ids)
    llama.input_ids[:n] = state.ids
    llama.n_tokens = n
    llama._requires_eval = True  # the logits are not a live decode's


@contextmanager
def kept_cache(llama: Any) -> Iterator[None]:
    """Run the block, then restore ``llama``'s context as it was before it."""
    state = snapshot(llama)
    try:
        yield
    finally:
        if state is not None:
            restore(llama, state)


class SideCaches:
    """The state each side task (by key: one per tool) ended in, so its next run evaluates
    only what differs from last time (the request), not its whole prompt. Bounded: the
    latest ``limit`` keys (~1-2 MB each)."""

    def __init__(self, limit: int = 16) -> None:
        self.limit = limit
        self._states: OrderedDict[str, CacheState] = OrderedDict()

    @contextmanager
    def run(self, llama: Any, key: str) -> Iterator[None]:
        """Inside ``kept_cache``: start from ``key``'s last state, keep where it ends."""
        state = self._states.get(key)
        if state is not None:
            restore(llama, state)
        yield
        after = snapshot(llama)
        if after is not None:
            self._states[key] = after
            self._states.move_to_end(key)
            while len(self._states) > self.limit:
                self._states.popitem(last=False)
