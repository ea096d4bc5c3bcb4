"""Contract tests: ``Bot(realtime=OpenAIRealtime(...))`` against a local server speaking OpenAI's
Realtime protocol (``tests/contract/servers/openai_realtime.py``).

Each test runs a whole session (a recorded caller in a WAV file → the model → the bot's WAV)
with the provider pointed at the local server by ``url``, and checks what the bot recorded
(turn records, context, audio) and what the server saw (events, handshake).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from tests.contract.servers.openai_realtime import (
    INVALID_KEY_CLOSE,
    SERVER_ERROR,
    OpenAIRealtimeServer,
    ToolReply,
)
from voicebot import Bot, OpenAIRealtime, registry, tool
from voicebot.audio.wav import read_wav
from voicebot.errors import ConfigError, MissingAPIKeyError, VendorError
from voicebot.metrics.records import TurnRecord
from voicebot.processors.heard_text import CUT_MARKER
from voicebot.providers.base import BuildContext
from voicebot.realtime_session import AWAITING_WORDS, greeting_instruction
from voicebot.session import Session
from voicebot.testing import FakeLLM, write_caller_wav
from voicebot.transports.wav import WavFile

pytestmark = pytest.mark.contract

KEY = "sk-realtime-contract"
GREETING = "Hello, this is the library."
QUESTION = "When are you open?"
ANSWER = "We open at nine."
BOUND_SECS = 60.0  # only so that a broken session fails instead of hanging


def realtime(server: OpenAIRealtimeServer, **options: object) -> OpenAIRealtime:
    options.setdefault("api_key", server.api_key)
    return OpenAIRealtime(url=server.url(), **options)  # type: ignore[arg-type]


async def run_call(bot: Bot, caller: Path, tmp_path: Path) -> Session:
    session = await bot.start_session(
        transport=WavFile(input=caller, output=tmp_path / "bot.wav"), env={}
    )
    async with asyncio.timeout(BOUND_SECS):
        await session.run()
    return session


def sent_audio_ms(pcm_bytes: bytes) -> float:
    return len(pcm_bytes) / 2 / 24000 * 1000


# ---- the provider and the spec ------------------------------------------------------------------


def test_provider_is_registered_checked_and_names_its_key() -> None:
    assert isinstance(Bot(realtime="openai").realtime, OpenAIRealtime)
    assert Bot(realtime="openai/gpt-realtime-mini").realtime.model == "gpt-realtime-mini"  # type: ignore[union-attr]
    assert registry.is_realtime(OpenAIRealtime())
    with pytest.raises(ConfigError, match=r"OpenAIRealtime\(url='https://x'\).*wss/ws"):
        OpenAIRealtime(url="https://x")
    with pytest.raises(MissingAPIKeyError, match="set OPENAI_API_KEY"):
        OpenAIRealtime().check(BuildContext())
    OpenAIRealtime().check(BuildContext(env={"OPENAI_API_KEY": "k"}))
    # Another server gets only a key given to it, never OpenAI's.
    elsewhere = OpenAIRealtime(url="ws://127.0.0.1:9/v1/realtime")
    with pytest.raises(MissingAPIKeyError, match="pass its key as api_key="):
        elsewhere.check(BuildContext(env={"OPENAI_API_KEY": "k"}))


def test_realtime_replaces_the_cascade_in_one_argument() -> None:
    bot = Bot(realtime=OpenAIRealtime(api_key="k"), greeting="Hi.")
    assert bot.stages() == [bot.realtime]
    # The defaults of stt/llm/tts/vad/turn do not count as set; setting one does.
    given = {"stt": "fake", "llm": "fake", "tts": "fake", "vad": "energy", "turn": "silence"}
    for stage, value in given.items():
        with pytest.raises(ConfigError, match=rf"so {stage}= would be ignored: drop it"):
            Bot(realtime="openai", **{stage: value})
    with pytest.raises(ConfigError, match="stt=, tts= would be ignored: drop them"):
        Bot(realtime="openai", stt="fake", tts="fake")
    with pytest.raises(ConfigError, match=r"pass it as Bot\(realtime=OpenAIRealtime\(...\)\)"):
        Bot(llm=OpenAIRealtime())
    with pytest.raises(ConfigError, match=r"not the llm provider FakeLLM"):
        Bot(realtime=FakeLLM())
    with pytest.raises(ConfigError, match="no after_stt insertion point"):
        Bot(realtime="openai", processors={"after_stt": []})
    assert Bot(realtime="openai").replace(realtime=None).realtime is None


# ---- a call -------------------------------------------------------------------------------------


async def test_a_caller_is_answered_with_transcripts_latency_and_the_greeting(
    tmp_path: Path,
) -> None:
    caller = write_caller_wav(tmp_path / "caller.wav", [(2.0, 1.2)], total_secs=6.0)
    records: list[TurnRecord] = []
    async with OpenAIRealtimeServer(replies=[ANSWER], transcripts=[QUESTION]) as server:
        bot = Bot(
            realtime=realtime(server, voice="marin", language="en", silence_ms=400),
            system_prompt="You are the library's receptionist.",
            greeting=GREETING,
            on_turn=records.append,
            turns_jsonl=tmp_path / "turns.jsonl",
        )
        session = await run_call(bot, caller, tmp_path)

    [conn] = server.connections
    assert conn.authorization == f"Bearer {KEY}" and conn.query == {"model": "gpt-realtime"}
    update = conn.received_of("session.update")[-1]["session"]
    assert update["instructions"] == "You are the library's receptionist."
    assert update["audio"]["output"]["voice"] == "marin"
    assert update["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 400
    assert update["audio"]["input"]["transcription"]["language"] == "en"
    # The greeting: an instruction item, then a response the model speaks.
    [item] = conn.received_of("conversation.item.create")
    assert item["item"]["content"][0]["text"] == greeting_instruction(GREETING)
    assert [m["type"] for m in conn.received if m["type"].startswith("response.")] == [
        "response.create"  # the caller's turn was answered by the server's own VAD
    ]

    greeting, answer = session.turns
    assert (greeting.user_text, greeting.bot_text) == ("", GREETING)
    assert (answer.user_text, answer.bot_text) == (QUESTION, ANSWER)
    assert not answer.interrupted and answer.completed_at is not None
    # Latency: from the caller's last sound (the model's silence ruling, dated back by its
    # silence_ms, as Pipecat dates its own VAD's) to the bot's first audio.
    assert answer.voice_to_voice_secs is not None and answer.voice_to_voice_secs >= 0.4
    assert answer.user_stopped_at is not None and answer.bot_started_at is not None
    assert answer.user_stopped_at < answer.bot_started_at
    assert session.latency.p50_secs == answer.voice_to_voice_secs
    assert [r.index for r in records] == [0, 1]
    lines = [json.loads(line) for line in (tmp_path / "turns.jsonl").read_text().splitlines()]
    assert [(line["user_text"], line["bot_text"]) for line in lines] == [
        ("", GREETING),
        (QUESTION, ANSWER),
    ]
    assert session.context.get_messages()[1:] == [
        {"role": "assistant", "content": GREETING},
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": ANSWER},
    ]
    # The bot's audio is the server's, every sample of it played into the bot's WAV.
    played = read_wav(tmp_path / "bot.wav", 24000).samples
    sent = np.frombuffer(conn.audio(), dtype="<i2")
    assert len(sent) == (server.expected_ms(GREETING) + server.expected_ms(ANSWER)) * 24
    assert np.count_nonzero(played) == np.count_nonzero(sent)


async def test_a_tool_call_runs_and_its_result_goes_back(tmp_path: Path) -> None:
    called: list[str] = []

    @tool
    async def opening_hours(day: str) -> dict[str, str]:
        """When the library opens on ``day``."""
        called.append(day)
        return {"day": day, "opens": "9:00"}

    caller = write_caller_wav(tmp_path / "caller.wav", [(2.0, 1.2)], total_secs=6.0)
    reply = ToolReply("opening_hours", {"day": "monday"}, then="On Monday we open at nine.")
    async with OpenAIRealtimeServer(replies=[reply], transcripts=[QUESTION]) as server:
        bot = Bot(realtime=realtime(server), greeting=GREETING, tools=[opening_hours])
        session = await run_call(bot, caller, tmp_path)

    assert called == ["monday"]
    [conn] = server.connections
    offered = conn.received_of("session.update")[-1]["session"]["tools"]
    assert [(t["type"], t["name"]) for t in offered] == [("function", "opening_hours")]
    [call] = [m for m in conn.sent_of("response.function_call_arguments.done")]
    outputs = [
        m["item"]
        for m in conn.received_of("conversation.item.create")
        if m["item"]["type"] == "function_call_output"
    ]
    assert [(o["call_id"], json.loads(o["output"])) for o in outputs] == [
        (call["call_id"], {"day": "monday", "opens": "9:00"})
    ]
    # The result went back, then a response was asked for, and spoken.
    kinds = [m["type"] for m in conn.received if m["type"] != "input_audio_buffer.append"]
    assert kinds == [
        "session.update",  # on session.created
        "conversation.item.create",  # the greeting's instruction
        "session.update",  # with the context's tools
        "response.create",  # the greeting
        "conversation.item.create",  # the tool's output
        "response.create",  # the answer that reads it
    ]
    answer = session.turns[-1]
    assert (answer.user_text, answer.bot_text) == (QUESTION, "On Monday we open at nine.")
    [record] = answer.tool_calls
    assert (record.name, record.arguments, record.finished) == (
        "opening_hours",
        {"day": "monday"},
        True,
    )


async def test_a_barge_in_truncates_the_reply_to_what_was_played(tmp_path: Path) -> None:
    long_reply = "We open at nine on weekdays and at ten on Saturdays, and we close at six."
    # The reply (~4.4 s of audio) starts at ~3.5 s; the caller speaks over it at 5.0 s.
    caller = write_caller_wav(tmp_path / "caller.wav", [(2.0, 1.0), (5.0, 0.8)], total_secs=9.0)
    async with OpenAIRealtimeServer(
        replies=[long_reply, "Sure."], transcripts=[QUESTION, "Thanks, bye."], ms_per_char=60
    ) as server:
        bot = Bot(realtime=realtime(server), greeting=GREETING)
        session = await run_call(bot, caller, tmp_path)

    [conn] = server.connections
    [truncate] = conn.received_of("conversation.item.truncate")
    [reply] = [
        m
        for m in conn.sent_of("response.output_audio_transcript.done")
        if m["transcript"] == long_reply
    ]
    assert truncate["item_id"] == reply["item_id"] and truncate["content_index"] == 0
    # Cut where the caller came in: some of the reply was played, not all of it.
    assert 0 < truncate["audio_end_ms"] < server.expected_ms(long_reply)
    assert (
        conn.sent_of("conversation.item.truncated")[0]["audio_end_ms"] == (truncate["audio_end_ms"])
    )
    cut, after = session.turns[-2:]
    assert cut.interrupted and cut.user_text == QUESTION
    heard = cut.bot_text.removesuffix(CUT_MARKER).strip()
    assert cut.bot_text.endswith(CUT_MARKER) and long_reply.startswith(heard), cut.bot_text
    assert 0 < len(heard) < len(long_reply)
    assert (after.user_text, after.bot_text) == ("Thanks, bye.", "Sure.")


async def test_a_turn_the_model_never_transcribed_is_still_the_caller_s(tmp_path: Path) -> None:
    caller = write_caller_wav(tmp_path / "caller.wav", [(2.0, 1.0)], total_secs=5.0)
    async with OpenAIRealtimeServer(replies=[ANSWER]) as server:
        bot = Bot(realtime=realtime(server, transcription_model=None), greeting=GREETING)
        session = await run_call(bot, caller, tmp_path)

    [conn] = server.connections
    assert (
        "transcription" not in conn.received_of("session.update")[-1]["session"]["audio"]["input"]
    )
    _, turn = session.turns
    assert (turn.user_text, turn.bot_text) == (AWAITING_WORDS, ANSWER)
    assert turn.voice_to_voice_secs is not None


async def test_without_a_greeting_each_turn_is_answered_once(tmp_path: Path) -> None:
    """The server's VAD answers the caller's turns; the bot asks for no response of its
    own (Pipecat would, on the first context it gets: the first turn answered twice)."""
    caller = write_caller_wav(tmp_path / "caller.wav", [(1.0, 1.0), (4.0, 1.0)], total_secs=8.0)
    async with OpenAIRealtimeServer(
        replies=[ANSWER, "Second."], transcripts=[QUESTION, "Again?"]
    ) as server:
        bot = Bot(realtime=realtime(server), greeting=None)
        session = await run_call(bot, caller, tmp_path)

    [conn] = server.connections
    assert not [m for m in conn.received if m["type"].startswith("response.")]
    assert not conn.received_of("conversation.item.create")  # nothing said before the caller
    assert len(conn.sent_of("response.created")) == conn.turns == 2
    assert [(t.index, t.user_text, t.bot_text) for t in session.turns] == [
        (1, QUESTION, ANSWER),  # the caller's Nth turn is N, as in a cascaded bot
        (2, "Again?", "Second."),
    ]
    assert session.context.get_messages() == [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": ANSWER},
        {"role": "user", "content": "Again?"},
        {"role": "assistant", "content": "Second."},
    ]


async def test_without_interruptions_the_server_vad_does_not_cancel_the_reply(
    tmp_path: Path,
) -> None:
    long_reply = "We open at nine on weekdays and at ten on Saturdays, and we close at six."
    # The reply (~4.4 s of audio) starts at ~3.5 s; the caller speaks over it at 5.0 s.
    caller = write_caller_wav(tmp_path / "caller.wav", [(2.0, 1.0), (5.0, 0.8)], total_secs=11.0)
    async with OpenAIRealtimeServer(
        replies=[long_reply, "Sure."], transcripts=[QUESTION, "Thanks."], ms_per_char=60
    ) as server:
        bot = Bot(realtime=realtime(server), greeting=GREETING, allow_interruptions=False)
        session = await run_call(bot, caller, tmp_path)

    [conn] = server.connections
    for update in conn.received_of("session.update"):
        assert update["session"]["audio"]["input"]["turn_detection"]["interrupt_response"] is False
    assert [d["response"]["status"] for d in conn.sent_of("response.done")] == ["completed"] * 3
    # Nothing cut on the bot's side either: every sample of the reply was played.
    played = read_wav(tmp_path / "bot.wav", 24000).samples
    assert np.count_nonzero(played) == np.count_nonzero(np.frombuffer(conn.audio(), "<i2"))
    assert {"role": "assistant", "content": long_reply} in session.context.get_messages()


async def test_a_goodbye_asked_mid_reply_is_spoken_before_the_end(tmp_path: Path) -> None:
    """The end waits for the goodbye's own response, not for the end of the reply that was
    playing when it was asked. The server holds the goodbye's words until that reply has
    been played (a slow model), so the bot stops speaking in between."""
    long_reply = "We open at nine on weekdays and at ten on Saturdays, and we close at six."
    goodbye = "Goodbye for now."
    held = asyncio.Event()
    caller = write_caller_wav(tmp_path / "caller.wav", [(2.5, 1.0)], total_secs=30.0)
    async with OpenAIRealtimeServer(
        replies=[long_reply], transcripts=[QUESTION], hold={goodbye: held}
    ) as server:
        bot = Bot(
            realtime=realtime(server),
            greeting=GREETING,
            # The reply's record completes once it has been played: then the goodbye speaks.
            on_turn=lambda turn: held.set() if turn.index == 1 else None,
        )
        session = await bot.start_session(
            transport=WavFile(input=caller, output=tmp_path / "bot.wav"), env={}
        )
        async with asyncio.timeout(BOUND_SECS):
            running = asyncio.create_task(session.run())
            await server.wait_for(
                lambda: any(len(c.sent_of("response.done")) == 2 for c in server.connections),
                BOUND_SECS,
            )
            await session.end(goodbye=goodbye)  # the reply is still playing (~3 s of it)
            await running

    [conn] = server.connections
    from voicebot.realtime_session import say_instruction

    asked = conn.received_of("conversation.item.create")[-1]
    assert asked["item"]["content"][0]["text"] == say_instruction(goodbye)
    spoken = [m["transcript"] for m in conn.sent_of("response.output_audio_transcript.done")]
    assert spoken == [GREETING, long_reply, goodbye]
    played = read_wav(tmp_path / "bot.wav", 24000).samples
    sent = np.frombuffer(conn.audio(), "<i2")
    assert len(sent) == sum(server.expected_ms(t) for t in spoken) * 24
    assert np.count_nonzero(played) == np.count_nonzero(sent)  # the goodbye played to its end


# ---- failures -----------------------------------------------------------------------------------


async def test_a_refused_key_ends_the_session_naming_the_stage(tmp_path: Path) -> None:
    """OpenAI takes the upgrade, sends an ``invalid_api_key`` error event and closes (3000)."""
    caller = write_caller_wav(tmp_path / "caller.wav", [(1.0, 1.2)], total_secs=60.0)
    async with OpenAIRealtimeServer(replies=[ANSWER]) as server:
        bot = Bot(realtime=realtime(server, api_key="sk-wrong-key"), greeting=GREETING)
        with pytest.raises(VendorError) as raised:
            await run_call(bot, caller, tmp_path)  # within the bound, not the recording

    error = raised.value
    assert error.stage == "OpenAIRealtime"
    assert str(error).startswith(
        f"OpenAIRealtime could not connect to {server.url()}: invalid_api_key: Incorrect API key"
    ), str(error)
    assert "sk-wrong-key" not in str(error)
    assert server.rejected == ["sk-wrong-key"]
    assert server.connections[0].close == INVALID_KEY_CLOSE


async def test_an_error_event_mid_call_ends_the_session_loudly(tmp_path: Path) -> None:
    """Pipecat stops listening after an ``error`` event: the session must not go on deaf."""
    caller = write_caller_wav(tmp_path / "caller.wav", [(2.0, 1.0)], total_secs=60.0)
    async with OpenAIRealtimeServer(replies=[ANSWER], fault_on_turn=1) as server:
        bot = Bot(realtime=realtime(server), greeting=GREETING)
        with pytest.raises(VendorError) as raised:
            await run_call(bot, caller, tmp_path)
        session_turns = server.connections[0].turns

    assert raised.value.stage == "OpenAIRealtime"
    assert f"server_error: {SERVER_ERROR}" in str(raised.value)
    assert session_turns == 1


DROPPING_BOT = """
from voicebot import Bot, OpenAIRealtime

bot = Bot(
    realtime=OpenAIRealtime(url={url!r}, api_key={key!r}),
    greeting={greeting!r},
    mute_caller=["greeting"],
)
"""


@pytest.mark.parametrize("close_code", [1000, 1011])
async def test_a_dropped_socket_ends_the_run_loudly(tmp_path: Path, close_code: int) -> None:
    """The server closes the socket (cleanly or not, no ``error`` event) when asked for the
    greeting. The caller is muted until the greeting has played, so no audio goes out to
    fail on: only the closed socket says the model is gone. ``voicebot run`` must not go on
    deaf and mute to the end of the recording, but exit non-zero with one line naming it."""
    from voicebot.cli import main

    # Unfixed, the run goes on to the recording's end and exits 0.
    caller = write_caller_wav(tmp_path / "caller.wav", [(2.0, 1.0)], total_secs=10.0)
    async with OpenAIRealtimeServer(
        replies=[ANSWER], drop_on_request="response.create", drop_code=close_code
    ) as server:
        bot_file = tmp_path / "bot.py"
        bot_file.write_text(DROPPING_BOT.format(url=server.url(), key=KEY, greeting=GREETING))
        argv = ["run", str(bot_file), "--input", str(caller), "--output", str(tmp_path / "o.wav")]
        with contextlib.redirect_stderr(io.StringIO()) as err:
            async with asyncio.timeout(BOUND_SECS):  # within the bound, not the recording
                code = await asyncio.to_thread(main, argv)

    assert server.connections[0].close == (close_code, "")
    assert code == 2, err.getvalue()[-2000:]  # a VendorError, as any vendor failure
    [line] = [x for x in err.getvalue().splitlines() if x.startswith("voicebot:")]
    assert line.startswith(
        f"voicebot: OpenAIRealtime could not connect to {server.url()}: "
        "the server closed the connection"
    ), line
    if close_code != 1000:  # a clean close ends Pipecat's receive loop without its code
        assert line.endswith(f"the server closed the connection: {close_code} (internal error)")


# ---- the server itself keeps to the documented protocol ------------------------------------------


async def test_server_protocol_details() -> None:
    """Guards the fake: manual turns (commit), cancel with nothing active, a second create."""
    import websockets

    async with OpenAIRealtimeServer(replies=["One two."], transcripts=["Hi."]) as server:
        headers = {"Authorization": f"Bearer {KEY}"}
        async with websockets.connect(server.url() + "?model=m", additional_headers=headers) as ws:

            async def send(**event: object) -> None:
                await ws.send(json.dumps(event))

            await send(
                type="session.update",
                session={
                    "audio": {"input": {"turn_detection": None, "transcription": {"model": "t"}}}
                },
            )
            await send(type="response.cancel")
            await send(type="input_audio_buffer.commit")
            await send(type="response.create")
            [conn] = server.connections
            await server.wait_for(lambda: bool(conn.sent_of("response.done")))
        codes = [m["error"]["code"] for m in conn.sent_of("error")]
        assert codes[0] == "response_cancel_not_active"
        assert conn.sent_of("input_audio_buffer.committed")
        assert (
            conn.sent_of("conversation.item.input_audio_transcription.completed")[0]["transcript"]
            == "Hi."
        )
        assert not conn.sent_of("input_audio_buffer.speech_started")  # no server VAD
        [done] = conn.sent_of("response.done")
        assert done["response"]["status"] == "completed"
        assert conn.sent_of("response.output_audio_transcript.done")[0]["transcript"] == (
            "One two."
        )


async def test_idle_nudges_and_the_goodbye_are_spoken_by_the_model(tmp_path: Path) -> None:
    """Text the bot is to say (here the idle nudge, then the goodbye of the hang-up) becomes
    an instruction and a response, and the call ends only once the goodbye was spoken."""
    from voicebot import UserIdle
    from voicebot.realtime_session import say_instruction

    nudge, goodbye = "Are you still there?", "Goodbye for now."
    caller = write_caller_wav(tmp_path / "caller.wav", [], total_secs=40.0)
    async with OpenAIRealtimeServer(replies=[], transcripts=[]) as server:
        bot = Bot(
            realtime=realtime(server),
            greeting=GREETING,
            user_idle=UserIdle(after_secs=1.0, nudges=[nudge], goodbye=goodbye),
        )
        session = await run_call(bot, caller, tmp_path)

    [conn] = server.connections
    asked = [m["item"]["content"][0]["text"] for m in conn.received_of("conversation.item.create")]
    assert asked == [
        greeting_instruction(GREETING),
        say_instruction(nudge),
        say_instruction(goodbye),
    ]
    said = [t.bot_text for t in session.turns]
    assert said == [f"{GREETING} {nudge} {goodbye}"]  # one record: the caller never spoke
    played = read_wav(tmp_path / "bot.wav", 24000).samples
    spoken_ms = sum(server.expected_ms(t) for t in (GREETING, nudge, goodbye))
    assert np.count_nonzero(played) == np.count_nonzero(np.frombuffer(conn.audio(), "<i2"))
    assert len(np.frombuffer(conn.audio(), "<i2")) == spoken_ms * 24
