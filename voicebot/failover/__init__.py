"""Fallback providers for a stage: ``llm=[OpenAILLM(), LlamaLLM()]`` and the like.

A list given for ``stt``, ``llm`` or ``tts`` becomes a fallback group (``FallbackSTT``,
``FallbackLLM``, ``FallbackTTS``): the first provider answers while it works; a vendor fault
or a silence past its budget moves the stage to the next, the request in flight is replayed
there when nothing of it was spoken yet, and a failed provider is tried again after a backoff.
The shared rules are in ``voicebot.failover.policy``; docs/reliability.md has the measured
outcomes. Exports are imported on first use (a spec does not pay for Pipecat).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voicebot.failover.llm import FallbackLLM
    from voicebot.failover.policy import (
        DEFAULT_POLICY,
        FailoverEvent,
        FailoverPolicy,
        Reason,
        classify,
    )

_LAZY = {
    "DEFAULT_POLICY": "voicebot.failover.policy",
    "FailoverEvent": "voicebot.failover.policy",
    "FailoverPolicy": "voicebot.failover.policy",
    "Reason": "voicebot.failover.policy",
    "classify": "voicebot.failover.policy",
    "FallbackLLM": "voicebot.failover.llm",
    "FallbackSTT": "voicebot.failover.stt",
    "FallbackTTS": "voicebot.failover.tts",
}

__all__ = [
    "DEFAULT_POLICY",
    "FailoverEvent",
    "FailoverPolicy",
    "FallbackLLM",
    "FallbackSTT",
    "FallbackTTS",
    "Reason",
    "classify",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'voicebot.failover' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
