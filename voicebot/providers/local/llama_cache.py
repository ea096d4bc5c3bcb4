"""Keep the conversation's cache across a side task on the same llama.cpp model.

llama-cpp-python keeps one KV cache per ``Llama`` and reuses it for the longest common
prefix of the next prompt. Writing a tool's arguments (``tool_router.extract_arguments``)
runs a prompt of its own on the same model, so the answer that follows used to evaluate the
whole conversation again (~0.8 s on two cores in the demo). ``kept_cache`` copies the
context's state (the used KV cells and the token ids it holds; a few MB) before the side
task and puts it back after, as ``Llama.save_state``/``load_state`` do without their copy of
the whole logits buffer (n_batch x vocabulary floats: ~300 MB for Qwen2.5).
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from loguru import logger


@contextmanager
def kept_cache(llama: Any) -> Iterator[None]:
    """Run the block, then restore ``llama``'s context as it was before it."""
    import llama_cpp

    try:  # llama-cpp-python's own members (tests/local/test_llama_cache.py pins them)
        ctx = llama._ctx.ctx
        n_tokens = llama.n_tokens
        ids = llama.input_ids[:n_tokens].copy()
    except AttributeError as e:  # another version: the side task evicts the cache, as before
        logger.debug(f"kept_cache: not kept ({e})")
        yield
        return
    size = llama_cpp.llama_state_get_size(ctx)
    buffer = (ctypes.c_uint8 * size)()
    used = llama_cpp.llama_state_get_data(ctx, buffer, size)
    try:
        yield
    finally:
        if llama_cpp.llama_state_set_data(ctx, buffer, used) != used:
            # Cannot restore: forget what the cache holds, so the next prompt is read whole.
            llama.n_tokens = 0
        else:
            llama.input_ids[:n_tokens] = ids
            llama.n_tokens = n_tokens
            llama._requires_eval = True  # the logits are not a live decode's
