"""Pipecat processors voicebot puts in every session's pipeline."""

from voicebot.processors.heard_text import (
    CUT_MARKER,
    HeardText,
    HeardTextFrame,
    heard_prefix,
    track_heard_text,
)

__all__ = ["CUT_MARKER", "HeardText", "HeardTextFrame", "heard_prefix", "track_heard_text"]
