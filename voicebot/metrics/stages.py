"""The named stages of a turn's voice-to-voice time, for tables, charts and spans.

A turn's timeline, from the moment the user went quiet (``t = 0``) to the bot's first audio
(``t = voice_to_voice_secs``), is cut into named stages (``STAGES``). Each stage is one
contribution of Pipecat's breakdown (``UserBotLatencyObserver``), so the stages and
``pipeline`` (time no stage accounts for: frame hops, queueing) sum to the voice-to-voice
figure.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    """One named stretch of a turn's voice-to-voice time."""

    key: str
    label: str
    meaning: str
    short: str = ""


#: The stages of a turn, in the order they happen. Keys are Pipecat's contribution keys
#: (``LatencyContribution.key``), so they stay stable across Pipecat releases.
STAGES: tuple[Stage, ...] = (
    Stage(
        "endpointing_wait",
        "endpointing wait",
        "silence the VAD must hear before it calls speech over (its stop_secs)",
        "endpoint",
    ),
    Stage(
        "transcription",
        "STT finalization",
        "VAD stop → the final transcript: the STT vendor finalizing what it heard",
        "stt",
    ),
    Stage(
        "turn_detection",
        "turn decision",
        "final transcript → the LLM is asked: the turn strategy deciding the user is done "
        "(a silence timeout, or a smart-turn model's inference)",
        "turn",
    ),
    Stage(
        "llm_inference",
        "LLM first token",
        "the LLM is asked → its first token (time to first token)",
        "llm",
    ),
    Stage(
        "llm_tool_call",
        "LLM tool call",
        "first token → the tool call is dispatched (the model still writing the call)",
        "toolcall",
    ),
    Stage(
        "function_handler",
        "tool",
        "the tool function running",
        "tool",
    ),
    Stage(
        "sentence_aggregation",
        "first sentence",
        "first token → the first whole sentence ready for TTS",
        "sentence",
    ),
    Stage(
        "speech_synthesis",
        "TTS first audio",
        "text sent to TTS → its first audio (TTS time to first byte)",
        "tts",
    ),
    Stage(
        "output_transport",
        "transport",
        "first TTS audio → the output transport starts playing it",
        "transport",
    ),
    Stage(
        "pipeline",
        "pipeline",
        "time no stage accounts for: frame hops and queueing between processors",
        "other",
    ),
)
STAGE_KEYS: tuple[str, ...] = tuple(s.key for s in STAGES)
_STAGE_BY_KEY = {s.key: s for s in STAGES}


def stage_label(key: str) -> str:
    """The human name of a stage key (the key itself for ones voicebot does not know)."""
    stage = _STAGE_BY_KEY.get(key)
    return stage.label if stage else key.replace("_", " ")


def stage_short(key: str) -> str:
    """A column header for a stage key."""
    stage = _STAGE_BY_KEY.get(key)
    return stage.short if stage else key
