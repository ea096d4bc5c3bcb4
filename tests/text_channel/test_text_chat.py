"""A Bot as a text agent from Python (``TextChat``): tools, memory, RAG and turn records work
as in a voice session, with no audio stage built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voicebot import Bot, DeepgramSTT, Memory, SQLiteStore, tool
from voicebot.errors import ConfigError
from voicebot.knowledge.retrieval import Retrieval
from voicebot.memory.memory import NOTE_HEADER
from voicebot.metrics.records import TurnRecord
from voicebot.testing import FakeLLM, FakeRetriever, ToolCall
from voicebot.text_channel.chat import TextChat
from voicebot.text_channel.transport import ToolCallStarted

NO_KEYS: dict[str, str] = {}


@tool
def opening_hours(day: str) -> str:
    """Opening hours on a day."""
    return f"{day}: ten to four"


async def test_a_tool_call_runs_and_its_result_is_answered_in_one_streamed_reply() -> None:
    bot = Bot(
        llm=FakeLLM(
            replies=[ToolCall("opening_hours", {"day": "Saturday"}), "Ten to four on Saturday."],
            ttft_secs=0.01,
        ),
        greeting="Hello, how can I help?",
        tools=[opening_hours],
    )
    async with TextChat(bot, env=NO_KEYS) as chat:
        assert chat.greeting == "Hello, how can I help?"
        reply = chat.send("When are you open on Saturday?")
        events = [e async for e in reply.events()]
        result = await reply

    assert events[0] == ToolCallStarted("opening_hours", events[0].call_id, {"day": "Saturday"})
    chunks = [e for e in events if isinstance(e, str)]
    assert "".join(chunks).strip() == result.text == "Ten to four on Saturday."
    [call] = result.tool_calls
    assert (call.name, call.result, call.finished) == (
        "opening_hours",
        "Saturday: ten to four",
        True,
    )
    # The model was asked again with the tool's result, and the greeting is in its context.
    first, second = chat.session.llm.requests  # type: ignore[union-attr]
    assert first[1] == {"role": "assistant", "content": "Hello, how can I help?"}
    assert second[-1]["role"] == "tool" and "ten to four" in second[-1]["content"]


async def test_each_message_files_a_turn_record_with_latency(tmp_path: Path) -> None:
    seen: list[TurnRecord] = []
    jsonl = tmp_path / "turns.jsonl"
    bot = Bot(
        llm=FakeLLM(replies=["One.", "Two."], ttft_secs=0.05),
        on_turn=seen.append,
        turns_jsonl=jsonl,
    )
    async with TextChat(bot, env=NO_KEYS) as chat:
        first = await chat.ask("first")
        second = await chat.ask("second")

    assert [r.text for r in (first, second)] == ["One.", "Two."]
    for index, result in enumerate((first, second), start=1):
        turn = result.turn
        assert turn is not None and turn.index == index
        assert turn.user_text == ("first", "second")[index - 1]
        assert turn.bot_text == result.text
        # Message in to first reply text out: at least the model's time to first token.
        assert turn.voice_to_voice_secs is not None and turn.voice_to_voice_secs >= 0.05
        assert turn.llm_ttft_secs is not None and turn.llm_ttft_secs >= 0.05
        assert turn.user_stopped_at is not None and turn.bot_started_at is not None
        assert turn.bot_started_at >= turn.user_stopped_at
    assert [t.index for t in seen] == [1, 2]
    written = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [w["user_text"] for w in written] == ["first", "second"]


async def test_memory_by_user_id_carries_over_to_the_next_chat(tmp_path: Path) -> None:
    store_path = tmp_path / "memory.db"

    def bot(replies: list[object]) -> Bot:
        return Bot(
            llm=FakeLLM(replies=replies, ttft_secs=0.01),
            memory=Memory(store=SQLiteStore(store_path)),
        )

    first_bot = bot([ToolCall("remember", {"fact": "Ada is vegetarian."}), "Noted."])
    async with TextChat(first_bot, user_id="ada", env=NO_KEYS) as chat:
        result = await chat.ask("I'm Ada, I only eat vegetarian food.")
        first_id = chat.id
    assert [c.name for c in result.tool_calls] == ["remember"]

    async with TextChat(bot(["Try the lentil soup."]), user_id="ada", env=NO_KEYS) as chat:
        await chat.ask("What do you suggest?")
        second_id = chat.id
        _system, note, user = chat.session.llm.requests[0]  # type: ignore[union-attr]
    assert note == {"role": "developer", "content": f"{NOTE_HEADER}\n- Ada is vegetarian."}
    assert user == {"role": "user", "content": "What do you suggest?"}

    store = SQLiteStore(store_path)
    sessions = await store.read_transcripts("ada")
    assert [s.session_id for s in sessions] == [first_id, second_id]
    assert await store.get_facts("someone else") == []


async def test_retrieval_adds_passages_and_files_its_record() -> None:
    retriever = FakeRetriever({"parking": "Parking is free after six."})
    bot = Bot(
        llm=FakeLLM(replies=["It is free after six."], ttft_secs=0.01),
        retrieval=Retrieval(retriever),
    )
    async with TextChat(bot, env=NO_KEYS) as chat:
        result = await chat.ask("Is parking free?")
        request = chat.session.llm.requests[0]  # type: ignore[union-attr]

    assert retriever.queries == ["Is parking free?"]
    assert any("Parking is free after six." in str(m.get("content")) for m in request)
    assert result.turn is not None and result.turn.retrieval is not None
    record = result.turn.retrieval
    assert (record.query, record.in_time, record.sources) == ("Is parking free?", True, ["parking"])


async def test_voice_stages_are_neither_checked_nor_built() -> None:
    """A bot whose STT needs a key this host lacks still chats: text checks the LLM only."""
    bot = Bot(stt=DeepgramSTT(), llm=FakeLLM(replies=["Hi."], ttft_secs=0.01))
    with pytest.raises(ConfigError, match="DEEPGRAM_API_KEY"):
        bot.check(NO_KEYS, transport=None)
    async with TextChat(bot, env=NO_KEYS) as chat:
        assert (await chat.ask("hello")).text == "Hi."
        assert chat.session.describe_stages().startswith("text → FakeLLM")  # type: ignore[union-attr]


async def test_a_message_without_words_is_refused() -> None:
    async with TextChat(Bot(llm=FakeLLM(ttft_secs=0.01)), env=NO_KEYS) as chat:
        with pytest.raises(ValueError, match="needs some text"):
            chat.send("   ")
        assert (await chat.ask("ok")).text == "You said: ok"


async def test_a_speech_to_speech_bot_is_refused_with_a_clear_error() -> None:
    if "realtime" not in Bot.model_fields:
        pytest.skip("Bot(realtime=...) is not in this tree yet")
    from voicebot import OpenAIRealtime  # type: ignore[attr-defined]

    bot = Bot(realtime=OpenAIRealtime(api_key="sk-test"))
    with pytest.raises(ConfigError, match="speech-to-speech"):
        await TextChat(bot, env=NO_KEYS).start()


async def test_a_fallback_llm_group_fails_over_within_a_reply() -> None:
    from tests.conversation.test_fallback_llm import Fail, FaultyLLM

    bot = Bot(llm=[FaultyLLM(steps=[Fail()], ttft_secs=0.01), FakeLLM(replies=["Backup here."])])
    async with TextChat(bot, env=NO_KEYS) as chat:
        result = await chat.ask("hello?")

    assert result.text == "Backup here."
    assert result.turn is not None
    [switch] = result.turn.failovers
    assert (switch["reason"], switch["replayed"]) == ("connection_refused", True)
