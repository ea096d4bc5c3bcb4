"""Memory through whole bots (fakes, synthetic callers) on a SQLite store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import load_example
from voicebot import Bot, EnergyVAD, SilenceTurn, WavFile
from voicebot.memory import Memory, SQLiteStore
from voicebot.memory.memory import NOTE_HEADER, SUMMARY_TEMPLATE
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, ToolCall

QUICK_TURNS = dict(vad=EnergyVAD(stop_secs=0.2), turn=SilenceTurn(silence_secs=0.3))


async def test_a_returning_caller_is_known_from_the_first_call(tmp_path: Path) -> None:
    example = load_example("memory_returning_caller.py")
    first, second = await example.main(str(tmp_path / "memory.db"))

    # Call 1: nothing known yet; the model's remember() calls went to the store.
    assert not any(m["role"] == "developer" for m in first.llm.requests[0])
    facts = {"The caller's name is Ada.", "Ada is vegetarian."}  # the two calls ran in parallel
    store = SQLiteStore(tmp_path / "memory.db")
    stored = await store.get_facts(example.USER_ID)
    assert set(stored) == facts and len(stored) == 2
    # Call 2: a fresh session, whose very first LLM request carries what call 1 learned.
    system, note, user = second.llm.requests[0]
    assert system["role"] == "system"
    assert note == {
        "role": "developer",
        "content": NOTE_HEADER + "".join(f"\n- {f}" for f in stored),
    }
    assert user == {"role": "user", "content": "Hello again, what do you suggest for dinner?"}
    # Both calls' transcripts were saved, in order, under the user.
    sessions = await store.read_transcripts(example.USER_ID)
    assert [s.session_id for s in sessions] == [first.id, second.id]
    assert sessions[0].entries[0] == {
        "role": "user",
        "text": "Hi, I'm Ada and I only eat vegetarian food.",
    }
    assert [e["name"] for e in sessions[0].entries if e["role"] == "tool"] == ["remember"] * 2
    # Another caller's memory is their own.
    assert await store.get_facts("+15559999") == []


async def test_old_turns_are_summarized_recent_ones_kept_and_the_handoff_has_it_all(
    caller_wav, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    store = SQLiteStore(tmp_path / "memory.db")
    await store.put_fact("ada", "Ada is vegetarian.")
    extracted: list[list[dict[str, Any]]] = []

    def extract(entries: list[dict[str, Any]]) -> list[str]:
        extracted.append(entries)
        return ["Ada asked about opening hours."]

    said = [
        "My name is Ada, I need a table.",
        "For four people on Friday.",
        "Do you have parking?",
        "When do you open?",
    ]
    bot = Bot(
        stt=FakeSTT(transcripts=said, latency_secs=0.05),
        llm=FakeLLM(
            replies=[
                ToolCall("remember", {"fact": "The caller's name is Ada."}),
                "Hello Ada, for how many?",
                "Friday for four, noted.",
                "Yes, behind the building.",
                "We open at noon.",
            ],
            ttft_secs=0.05,
            tokens_per_sec=200,
        ),
        tts=FakeTTS(ttfb_secs=0.05, secs_per_char=0.01),
        memory=Memory(store=store, recent_turns=1, summarize_after=2, extract=extract),
        **QUICK_TURNS,
    )
    # Each answer is over about 1.5 s after its question; 3 s apart, none is cut off.
    caller = caller_wav([(0.3, 0.6), (3.3, 0.6), (6.3, 0.6), (9.3, 0.6)], total_secs=10.5)
    transport = WavFile(input=caller, output=tmp_path / "bot.wav", linger_secs=1.0)
    session = bot.session(transport=transport, env={}, user_id="ada")
    await session.run()

    assert [t.bot_text for t in session.turn_log.user_turns()] == [
        "Hello Ada, for how many?",
        "Friday for four, noted.",
        "Yes, behind the building.",
        "We open at noon.",
    ]
    last = session.llm.requests[-1]
    roles = [m["role"] for m in last]
    # The system prompt, then the memory note, still on top after summarizing...
    assert roles[:2] == ["system", "developer"] and NOTE_HEADER in last[1]["content"]
    # ...then one summary of the older turns, which still knows the caller's name...
    prefix = SUMMARY_TEMPLATE.split("{summary}")[0]
    summaries = [m for m in last if str(m.get("content", "")).startswith(prefix)]
    assert len(summaries) == 1 and "Ada" in summaries[0]["content"]
    # ...and the latest exchange word for word; the first one is no longer verbatim.
    assert last[-1] == {"role": "user", "content": "When do you open?"}
    assert {"role": "user", "content": said[0]} not in last
    assert len(last) < 2 + 4 * 2 + 2
    # A tool result is never left without the call it answers.
    call_ids = {c["id"] for m in last for c in m.get("tool_calls") or []}
    assert all(m["tool_call_id"] in call_ids for m in last if m["role"] == "tool")
    assert session.memory is not None and session.memory.summary

    package = session.handoff_package()
    assert json.loads(json.dumps(package)) == package  # JSON-able as it is
    assert package["user_id"] == "ada" and package["session_id"] == session.id
    assert package["summary"] == session.memory.summary
    assert [e["text"] for e in package["transcript"] if e["role"] == "user"] == said
    assert [(c["name"], c["arguments"]) for c in package["tool_calls"]] == [
        ("remember", {"fact": "The caller's name is Ada."})
    ]
    assert package["user_memory"]["facts"][:2] == [
        "Ada is vegetarian.",
        "The caller's name is Ada.",
    ]
    # At the end: the transcript was saved and the extractor's facts stored.
    assert extracted and extracted[0] == package["transcript"]
    assert await store.get_facts("ada") == [
        "Ada is vegetarian.",
        "The caller's name is Ada.",
        "Ada asked about opening hours.",
    ]
    (saved,) = await store.read_transcripts("ada")
    assert saved.session_id == session.id and saved.entries == package["transcript"]
