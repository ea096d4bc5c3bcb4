"""A tool call whose arguments are not JSON, from a real OpenAI wire stream.

Pipecat's ``OpenAILLMService`` drops such a call with a log line; the model is never told
and the caller hears nothing. voicebot's ``OpenAILLM`` answers it with an error the model
reads, like ``FakeLLM``'s ``ToolCall(name, "not json")``. The server is the scripted
stand-in for OpenAI's Chat Completions from the contract tests, on loopback.
"""

from __future__ import annotations

import json

from tests.contract.servers.openai_chat import OpenAIChatServer, ToolCall, text, tool_calls
from voicebot import Bot, EnergyVAD, OpenAILLM, SilenceTurn, WavFile, tool
from voicebot.testing import FakeSTT, FakeTTS, write_caller_wav


async def test_malformed_arguments_reach_the_model_as_an_error_and_the_other_call_runs(tmp_path):  # type: ignore[no-untyped-def]
    ran: list[str] = []

    @tool
    def book_table(name: str, people: int) -> dict:
        """Book a table."""
        ran.append(f"book {name}")
        return {"table": 4}

    @tool
    def opening_hours(day: str) -> str:
        """Opening hours on a day."""
        ran.append(f"hours {day}")
        return "9 to 5"

    script = [
        tool_calls(
            ToolCall("book_table", '{"name": "Ada", "people": 2', id="call_bad"),
            ToolCall("opening_hours", {"day": "monday"}, id="call_ok"),
        ),
        text("We open at nine. How many people was that?"),
    ]
    caller = write_caller_wav(tmp_path / "caller.wav", [(0.3, 0.6)], total_secs=3.5)
    async with OpenAIChatServer(script, api_key="sk-test") as server:
        bot = Bot(
            stt=FakeSTT(transcripts=["Book Ada and tell me Monday's hours."], latency_secs=0.05),
            llm=OpenAILLM(base_url=server.base_url, api_key="sk-test"),
            tts=FakeTTS(ttfb_secs=0.05, secs_per_char=0.02),
            tools=[book_table, opening_hours],
            vad=EnergyVAD(stop_secs=0.2),
            turn=SilenceTurn(silence_secs=0.3),
        )
        session = bot.session(
            transport=WavFile(input=caller, output=tmp_path / "bot.wav", linger_secs=1.0),
            env={},
        )
        await session.run()

    assert ran == ["hours monday"]
    _, second = server.requests
    sent = second.messages
    calls = {c["id"]: c for m in sent for c in m.get("tool_calls") or []}
    results = {m["tool_call_id"]: m["content"] for m in sent if m["role"] == "tool"}
    # Both calls are in the follow-up request, each with its result.
    assert set(calls) == set(results) == {"call_bad", "call_ok"}
    assert json.loads(results["call_ok"]) == "9 to 5"
    error = json.loads(results["call_bad"])["error"]
    assert "invalid arguments for book_table" in error and "not valid JSON" in error
    # What the model sent is kept, as JSON OpenAI accepts back.
    bad_arguments = json.loads(calls["call_bad"]["function"]["arguments"])
    assert bad_arguments == {"__unparsed_arguments__": '{"name": "Ada", "people": 2'}
    assert session.tts.spoken == ["We open at nine.", "How many people was that?"]
