"""Text on its way to speech: how LLM tokens are cut into pieces a TTS can start on, and how
those pieces are rewritten for the ear ("9:30" → "nine thirty") before the voice reads them."""

from voicebot.text.clauses import ClauseTextAggregator
from voicebot.text.spoken import to_spoken
from voicebot.text.spoken_filter import SpokenTextFilter, spoken_transform

__all__ = ["ClauseTextAggregator", "SpokenTextFilter", "spoken_transform", "to_spoken"]
