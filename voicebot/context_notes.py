"""The developer notes voicebot itself puts into an LLM context, and their headers.

User memory (``voicebot.memory``) adds the caller's facts under ``NOTE_HEADER``; knowledge
retrieval (``voicebot.knowledge``) adds each turn's passages under ``KNOWLEDGE_HEADER``.
Summaries and transcripts of what was said must leave both out. The headers live here,
apart from either feature, so neither has to import the other to recognise them.
"""

from __future__ import annotations

NOTE_HEADER = (
    "What you remember about this caller from earlier calls (use it naturally, do not recite it):"
)
# Short: every token of it is prompt the LLM reads before its first word.
KNOWLEDGE_HEADER = "Knowledge base facts that may help (not said by the caller):"

#: Every header above: a context message starting with one is a note, not conversation.
HEADERS: tuple[str, ...] = (NOTE_HEADER, KNOWLEDGE_HEADER)


def is_note_line(line: str) -> bool:
    """Whether a transcript line (``ROLE: text``) opens one of voicebot's notes."""
    return any(header in line for header in HEADERS)
