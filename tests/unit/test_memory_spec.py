"""Memory in the Bot spec: checks at construction and session build, the offline summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicebot import Bot, ConfigError, DuplicateToolError, WavFile, tool
from voicebot.context_notes import KNOWLEDGE_HEADER
from voicebot.memory import Memory, SQLiteStore, note_summary
from voicebot.memory.memory import NOTE_HEADER, NoteSummaryLLM, supports_run_inference
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, ScriptedLLMService, write_caller_wav


def fake_bot(**kw) -> Bot:  # type: ignore[no-untyped-def]
    return Bot(stt=FakeSTT(), llm=FakeLLM(), tts=FakeTTS(), vad="energy", turn="silence", **kw)


def test_memory_needs_a_store_and_sensible_levels(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MemoryStore"):
        Memory(store="memory.db")
    with pytest.raises(ConfigError, match="more than recent_turns"):
        Memory(store=SQLiteStore(tmp_path / "m.db"), recent_turns=4, summarize_after=3)
    assert not Memory(store=SQLiteStore(tmp_path / "m.db")).summarizes


def test_a_session_needs_a_user_id_and_the_remember_tool_name_is_taken(tmp_path: Path) -> None:
    bot = fake_bot(memory=Memory(store=SQLiteStore(tmp_path / "m.db")))
    caller = write_caller_wav(tmp_path / "in.wav", [(0.1, 0.2)], total_secs=0.5)
    transport = WavFile(input=caller, output=tmp_path / "out.wav")
    with pytest.raises(ConfigError, match=r"whose memory it is: pass bot.session\(user_id="):
        bot.session(transport=transport, env={})
    session = bot.session(transport=transport, env={}, user_id="+15551234")
    assert session.memory is not None and session.memory.user_id == "+15551234"
    assert [t["function"]["name"] for t in _tools(session)] == ["remember"]

    @tool
    def remember(fact: str) -> str:
        """Mine."""
        return fact

    with pytest.raises(DuplicateToolError, match="remember_tool=False"):
        fake_bot(tools=[remember], memory=Memory(store=SQLiteStore(tmp_path / "m.db")))
    fake_bot(
        tools=[remember], memory=Memory(store=SQLiteStore(tmp_path / "m.db"), remember_tool=False)
    )


def _tools(session) -> list[dict]:  # type: ignore[no-untyped-def]
    from pipecat.adapters.llm.services.open_ai_adapter import OpenAILLMAdapter

    return list(OpenAILLMAdapter().from_standard_tools(session.context.tools) or [])


def test_summaries_come_from_pipecat_with_the_offline_note_when_the_llm_cannot_infer(
    tmp_path: Path,
) -> None:
    memory = Memory(store=SQLiteStore(tmp_path / "m.db"), recent_turns=2, summarize_after=5)
    assert not supports_run_inference(ScriptedLLMService([]))
    config = memory.summarization_config(ScriptedLLMService([]))
    assert config is not None
    assert config.max_unsummarized_messages == 10
    assert config.summary_config.min_messages_after_summary == 4
    assert isinstance(config.summary_config.llm, NoteSummaryLLM)
    llm_memory = memory.model_copy(update={"summarizer": "llm"})
    llm_config = llm_memory.summarization_config(ScriptedLLMService([]))
    assert llm_config is not None and llm_config.summary_config.llm is None


def test_the_offline_note_keeps_the_newest_lines_that_fit_and_leaves_out_the_memory_note() -> None:
    transcript = "\n".join(
        [
            "Conversation history:",
            f"DEVELOPER: {NOTE_HEADER}",
            "- Ada is vegetarian.",
            "USER: My name is Ada.",
            "ASSISTANT: Hello Ada.",
            f"DEVELOPER: {KNOWLEDGE_HEADER}",
            "- Tables seat four.",
            "USER: " + "very long " * 40,
            "ASSISTANT: Sure.",
        ]
    )
    note = note_summary(transcript, max_chars=1000, line_chars=40)
    assert note.startswith("USER: My name is Ada. | ASSISTANT: Hello Ada. | USER: very long")
    assert "vegetarian" not in note and note.endswith("… | ASSISTANT: Sure.")
    assert "Tables seat four" not in note and "Knowledge" not in note
    assert note_summary(transcript, max_chars=1000) == note_summary(transcript, max_chars=1000)
    short = note_summary(transcript, max_chars=60, line_chars=40)
    assert (
        short
        == "(2 earlier lines left out) USER: very long very long very long ver… | ASSISTANT: Sure."
    )


def test_rag_names_moved_to_knowledge_still_import_from_memory_with_a_warning() -> None:
    import warnings

    import voicebot.knowledge
    import voicebot.memory

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        moved = voicebot.memory.LocalRetriever
    assert moved is voicebot.knowledge.LocalRetriever
    assert any("voicebot.knowledge.LocalRetriever" in str(w.message) for w in caught)
