"""The RAG example end to end with the real offline models: Whisper hears the caller and
MiniLM finds the right passage within the budget (tests/conversation/test_retrieval.py
checks how passages enter the LLM's context)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO, load_example
from voicebot.testing import run_conversation

QUESTIONS = REPO / "examples" / "audio" / "bike_shop_questions.wav"


async def test_the_knowledge_bot_answers_with_the_right_passage_in_its_context(
    tmp_path: Path,
) -> None:
    bot = load_example("knowledge_bot.py").bot
    conv = await run_conversation(bot, QUESTIONS, tmp_path / "reply.wav", env={})
    turns = conv.user_turns
    assert len(turns) == 2, [t.user_text for t in turns]
    rental, hours = turns
    assert "electric bike" in rental.user_text.lower()
    assert "saturday" in hours.user_text.lower()
    for turn, heading in ((rental, "## Bike rental"), (hours, "## Opening hours")):
        record = turn.retrieval
        assert record is not None and record.in_time and record.error is None
        assert record.waited_secs <= bot.retrieval.budget_ms / 1000 + 0.05
        passages = bot.retrieval.retriever.passages
        best = next(p for p in passages if p.source == record.sources[0])
        assert heading in best.text
    assert all(t.bot_text for t in turns)  # and the bot answered both
