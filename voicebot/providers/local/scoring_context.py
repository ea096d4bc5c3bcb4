"""A llama.cpp context of its own on a loaded model, for scoring (logits), not generating.

Why a second context: scoring prompts (the tool choice, the end of a turn) share nothing with
the conversation's prompt, and evaluating them in the chat's context would evict its cache
(system prompt and history), which the next reply would then evaluate again. A context costs
its KV cache only (~6 MB for Qwen2.5-0.5B at 512 tokens); the weights are shared. It keeps
what it last evaluated, so a scoring prompt with a fixed head costs only its new tokens.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import numpy as np

BATCH = 512


class ScoringContext:
    """Logits after a token sequence, on ``llama``'s model (a ``llama_cpp.Llama``), in a
    context opened on first use; evaluates only what follows the cached common prefix."""

    def __init__(self, llama: Any, *, n_ctx: int = 2048, threads: int = 2) -> None:
        self.llama = llama
        self.n_ctx = n_ctx
        self._threads = threads
        self.lock = threading.Lock()  # one scoring at a time in this context
        self._ctx: Any = None
        self._batch: Any = None
        self._tokens: list[int] = []  # what the context's cache holds, in order
        self.n_vocab = 0

    def _open(self) -> None:
        import llama_cpp

        params = llama_cpp.llama_context_default_params()
        params.n_ctx = self.n_ctx
        params.n_batch = params.n_ubatch = BATCH
        params.n_threads = params.n_threads_batch = self._threads
        params.no_perf = True
        self._ctx = llama_cpp.llama_init_from_model(self.llama.model, params)
        if self._ctx is None:
            raise RuntimeError("llama.cpp could not make a scoring context")
        self._batch = llama_cpp.llama_batch_init(BATCH, 0, 1)
        vocab = llama_cpp.llama_model_get_vocab(self.llama.model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)

    def close(self) -> None:
        import llama_cpp

        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx is not None:
            llama_cpp.llama_free(self._ctx)
            self._ctx = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter exit the library may be gone
            self.close()

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        return list(self.llama.tokenize(text.encode(), add_bos=False, special=special))

    def last_logits(self, tokens: list[int]) -> np.ndarray:
        """Logits after ``tokens`` (call under ``lock``)."""
        import llama_cpp

        if self._ctx is None:
            self._open()
        common = 0
        for cached, new in zip(self._tokens, tokens, strict=False):
            if cached != new:
                break
            common += 1
        common = min(common, len(tokens) - 1)  # the last token is evaluated for its logits
        llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(self._ctx), 0, common, -1)
        self._tokens = self._tokens[:common]
        rest = tokens[common:]
        for start in range(0, len(rest), BATCH):
            chunk = rest[start : start + BATCH]
            self._batch.n_tokens = len(chunk)
            for j, token in enumerate(chunk):
                self._batch.token[j] = token
                self._batch.pos[j] = len(self._tokens) + j
                self._batch.n_seq_id[j] = 1
                self._batch.seq_id[j][0] = 0
                self._batch.logits[j] = j == len(chunk) - 1
            if llama_cpp.llama_decode(self._ctx, self._batch) != 0:
                self._tokens = []
                raise RuntimeError("llama.cpp failed to evaluate a scoring prompt")
            self._tokens += chunk
        logits = llama_cpp.llama_get_logits_ith(self._ctx, -1)
        return np.ctypeslib.as_array(logits, shape=(self.n_vocab,)).astype(np.float64)
