"""Text on its way to speech: how LLM tokens are cut into pieces a TTS can start on."""

from voicebot.text.clauses import ClauseTextAggregator

__all__ = ["ClauseTextAggregator"]
