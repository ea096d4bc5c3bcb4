"""The in-process model evaluates the next prompt while the caller is still quiet.

Every reply starts with llama.cpp evaluating the prompt's new part (the caller's words and
the chat template around them): in the offline pipeline ~150-300 ms for 14-32 tokens on the
2-core VM, after the turn has ended and before the first token. The offline Whisper
transcribes the words so far a fraction into the caller's pause (``early_transcripts``);
``EarlyWords`` (``voicebot.conversation.early_words``) hands them, with the context as it
will read, to ``PromptPrefill.start``, which evaluates that prompt at once on the model's
thread. When the turn is confirmed and the request's prompt is the same, llama-cpp-python
finds it all in the KV cache and samples the first token with no evaluation at all.

A prefill that no longer fits is stopped mid-evaluation (``AbortFlag``): when the caller
speaks again, or when a request with another prompt comes (its words changed, a tool
result, a note). A prefill never waits for the model: when another call's reply holds it,
it is skipped. What it cost is counted (``PrefillCounts``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loguru import logger

from voicebot.providers.local.llama_thread import AbortFlag, abort_when

if TYPE_CHECKING:
    from voicebot.providers.local.llama import LoadedLlama


@dataclass
class PrefillCounts:
    """``started`` prompts evaluated ahead; ``matched`` requests whose prompt was the one
    prefilled (its evaluation was spared, or shortened if the prefill was still running);
    ``dropped`` prefills stopped or discarded (the caller went on, the request differed);
    ``busy`` ones skipped because the model was serving another reply."""

    started: int = 0
    matched: int = 0
    dropped: int = 0
    busy: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "started": self.started,
            "matched": self.matched,
            "dropped": self.dropped,
            "busy": self.busy,
        }


class PromptPrefill:
    """One session's prefills of ``model`` (at most one in flight)."""

    def __init__(self, model: LoadedLlama) -> None:
        self._model = model
        self.counts = PrefillCounts()
        self._prompt: list[dict[str, str]] | None = None
        self._flag: AbortFlag | None = None

    def start(self, prompt: list[dict[str, str]]) -> None:
        """Evaluate ``prompt`` (chat messages as a request would send them) on the model's
        thread; from the event loop."""
        if prompt == self._prompt:
            return
        self.cancel()
        flag = AbortFlag()
        self._prompt, self._flag = prompt, flag
        self.counts.started += 1
        self._model.thread.run(lambda: self._evaluate(prompt, flag))

    def cancel(self) -> None:
        """Stop the prefill in flight, if any (the caller went on)."""
        flag, self._flag, self._prompt = self._flag, None, None
        if flag is not None and not flag.is_set():
            flag.set()
            self.counts.dropped += 1

    def claim(self, prompt: list[dict[str, str]]) -> None:
        """A request for ``prompt`` is about to run: a prefill of another prompt is stopped
        (it would only delay the request); one of this prompt is left to finish."""
        if self._prompt is None:
            return
        if prompt == self._prompt:
            self.counts.matched += 1
            self._flag = self._prompt = None
        else:
            self.cancel()

    def _evaluate(self, prompt: list[dict[str, str]], flag: AbortFlag) -> None:
        """On the model's thread."""
        if flag.is_set():
            return
        if not self._model.lock.acquire(blocking=False):
            self.counts.busy += 1
            return
        try:
            llama: Any = self._model.llama
            with abort_when(llama, flag):
                # One token: the prompt is evaluated and kept; the token is not.
                llama.create_chat_completion(prompt, max_tokens=1, temperature=0.0)
        except Exception as e:  # aborted (llama_decode returns 2), or the prompt did not fit
            if not flag.is_set():
                logger.debug(f"prefill failed: {e}")
        finally:
            self._model.lock.release()
