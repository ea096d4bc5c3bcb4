"""Contract tests: ``ElevenLabsTTS`` against a local server speaking ElevenLabs' multi-context
WebSocket protocol (``tests/contract/servers/elevenlabs_tts.py``).

The provider is built as a bot builds it, pointed at the local server with ``url``, and driven
through a real Pipecat pipeline or a whole session. The tests check what comes out (audio at
the right rate, words timed by the alignment, errors) and what the server saw.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import websockets
from pipecat.frames.frames import (
    ErrorFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.pipeline.worker import PipelineParams
from pipecat.processors.frame_processor import FrameDirection
from pipecat.tests.utils import SleepFrame, run_test

from tests.contract.servers.elevenlabs_tts import (
    INTERNAL_ERROR,
    VOICE_SETTINGS_CHANGED,
    ElevenLabsTTSServer,
)
from tests.contract.test_cartesia import seconds_of
from tests.contract.test_vendor_unreachable import bot_lines, run_failing
from tests.conversation.test_interruption_truth import (
    SECS_PER_CHAR,
    assert_kept_only_words_played,
    assistant_message,
    converse,
)
from tests.faults.harness import (
    ANSWERS,
    FaultCase,
    assert_survived,
    run_three_turn_call,
    three_turn_bot,
)
from voicebot import Bot, registry
from voicebot.errors import ConfigError, MissingAPIKeyError
from voicebot.failover.policy import DEFAULT_POLICY
from voicebot.providers.base import BuildContext
from voicebot.providers.elevenlabs import DEFAULT_VOICE, ElevenLabsTTS
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, write_caller_wav

pytestmark = pytest.mark.contract

KEY = "sk_el_contract"
TEXT = "Hello there. How are you?"


def build(server: ElevenLabsTTSServer, **options):  # type: ignore[no-untyped-def]
    options.setdefault("api_key", KEY)
    return ElevenLabsTTS(url=server.url(), **options).build(BuildContext())


# ---- the provider ---------------------------------------------------------------------------------


def test_provider_is_registered_checked_and_names_its_key() -> None:
    assert registry.lookup("tts", "elevenlabs") is ElevenLabsTTS
    assert isinstance(Bot(tts="elevenlabs", llm="fake", stt="fake").tts, ElevenLabsTTS)
    with pytest.raises(ConfigError, match=r"ElevenLabsTTS\(url='https://x'\).*wss/ws"):
        ElevenLabsTTS(url="https://x")
    with pytest.raises(ConfigError, match="base URL, without the endpoint's path"):
        ElevenLabsTTS(url="wss://api.elevenlabs.io/v1/text-to-speech/v/multi-stream-input")
    with pytest.raises(MissingAPIKeyError, match="set ELEVENLABS_API_KEY"):
        ElevenLabsTTS().check(BuildContext())
    ElevenLabsTTS().check(BuildContext(env={"ELEVENLABS_API_KEY": "k"}))
    assert ElevenLabsTTS(url="wss://eu.example/").endpoint == (
        f"wss://eu.example/v1/text-to-speech/{DEFAULT_VOICE}/multi-stream-input"
    )


# ---- the happy path ------------------------------------------------------------------------------


async def test_speak_frame_is_synthesized_with_pipecat_run_test(elevenlabs_server):
    tts = build(elevenlabs_server)

    down, up = await run_test(tts, frames_to_send=[TTSSpeakFrame(TEXT), SleepFrame(sleep=0.5)])

    assert not [f for f in up if isinstance(f, ErrorFrame)]
    audio = [f for f in down if isinstance(f, TTSAudioRawFrame)]
    assert {(f.sample_rate, f.num_channels) for f in audio} == {(24000, 1)}
    started = next(i for i, f in enumerate(down) if isinstance(f, TTSStartedFrame))
    stopped = next(i for i, f in enumerate(down) if isinstance(f, TTSStoppedFrame))
    assert started < down.index(audio[0]) and down.index(audio[-1]) < stopped
    # Words come from the server's character alignment, in order, timed by it: the output
    # transport releases each when its audio starts.
    words = [f for f in down if isinstance(f, TTSTextFrame)]
    assert [f.text for f in words] == TEXT.split()
    [ctx] = elevenlabs_server.contexts()
    timed = ctx.words_sent  # split across 8-character chunks
    assert [w for w, _, _ in timed] == TEXT.split()
    offsets = [(f.pts - words[0].pts) / 1e9 for f in words]
    expected = [start - timed[0][1] for _, start, _ in timed]
    assert offsets[:-1] == pytest.approx(expected[:-1])
    # The context's last word is never completed by the alignment (no space follows it):
    # Pipecat 1.14 gives it the previous word's time when the context ends.
    assert offsets[-1] == pytest.approx(offsets[-2])
    assert offsets[-1] < expected[-1]

    [conn] = elevenlabs_server.connections
    assert (conn.voice_id, conn.headers["xi-api-key"]) == (DEFAULT_VOICE, KEY)
    assert conn.query == {
        "model_id": "eleven_flash_v2_5",
        "output_format": "pcm_24000",
        "auto_mode": "true",
    }
    assert conn.history == [ctx]
    # The audio that came out is byte for byte what the server sent.
    assert b"".join(f.audio for f in audio) == conn.audio(ctx.context_id)
    assert seconds_of(audio) == pytest.approx(elevenlabs_server.expected_seconds(ctx.text))
    # Open with a space, send the text, flush, close; the server ends with isFinal.
    assert [m.get("text") for m in ctx.messages[:2]] == [" ", TEXT]
    assert {"context_id": ctx.context_id, "flush": True} in ctx.messages
    assert ctx.messages[-1] == {"context_id": ctx.context_id, "close_context": True}
    assert ctx.final and conn.sent[-1] == {"isFinal": True, "contextId": ctx.context_id}


async def test_llm_reply_is_one_context_spoken_sentence_by_sentence(elevenlabs_server, harness):
    h = await harness(build(elevenlabs_server))

    await h.push(
        LLMFullResponseStartFrame(),
        *(LLMTextFrame(t) for t in ["Hello ", "there. ", "How are", " you?"]),
        LLMFullResponseEndFrame(),
    )
    await h.wait_for(TTSStoppedFrame)

    [ctx] = elevenlabs_server.contexts()
    assert [s.strip() for s in ctx.spoken] == ["Hello there.", "How are you?"]
    assert [f.text for f in h.frames(TTSTextFrame)] == TEXT.split()
    sent = [r.get("text") for r in ctx.messages]
    assert sent == [" ", "Hello there.", "How are you?", None, None]  # then flush, close
    audio = h.frames(TTSAudioRawFrame)
    assert seconds_of(audio) == pytest.approx(elevenlabs_server.expected_seconds(ctx.text))
    assert h.frames(ErrorFrame) == []
    await h.stop()


@pytest.mark.parametrize(
    ("provider_rate", "pipeline_rate"),
    [(None, 16000), (22050, 22050)],
    ids=["pipeline-rate", "provider-rate"],
)
async def test_provider_options_reach_the_handshake(
    elevenlabs_server_factory, harness, provider_rate, pipeline_rate
):
    server = await elevenlabs_server_factory(
        api_key="sk_el_from_env", models={"eleven_turbo_v2_5"}, voices={"my-voice-id"}
    )
    provider = ElevenLabsTTS(
        voice_id="my-voice-id",
        model="eleven_turbo_v2_5",
        language="fr",
        url=server.url(),
        sample_rate=provider_rate,
    )
    ctx = BuildContext(
        audio_out_sample_rate=pipeline_rate, env={"ELEVENLABS_API_KEY": "sk_el_from_env"}
    )
    provider.check(ctx)
    h = await harness(provider.build(ctx), PipelineParams(audio_out_sample_rate=pipeline_rate))

    await h.push(TTSSpeakFrame("Bonjour tout le monde."))
    await h.wait_for(TTSStoppedFrame)

    [conn] = server.connections
    assert (conn.voice_id, conn.headers["xi-api-key"]) == ("my-voice-id", "sk_el_from_env")
    assert conn.query == {
        "model_id": "eleven_turbo_v2_5",
        "output_format": f"pcm_{pipeline_rate}",
        "auto_mode": "true",
        "language_code": "fr",
    }
    audio = h.frames(TTSAudioRawFrame)
    assert {f.sample_rate for f in audio} == {pipeline_rate}
    [spoken] = server.contexts()
    assert seconds_of(audio) == pytest.approx(server.expected_seconds(spoken.text), abs=1e-4)
    assert h.frames(ErrorFrame) == []
    await h.stop()


async def test_interruption_closes_the_context_and_drops_its_audio(
    elevenlabs_server_factory, harness
):
    server = await elevenlabs_server_factory(chunk_delay=0.05)
    long_text = "This is a rather long sentence that takes quite a while to say out loud."
    h = await harness(build(server))

    await h.push(TTSSpeakFrame(long_text))
    await h.wait_for(TTSAudioRawFrame, count=3)
    await h.push(InterruptionFrame())
    [ctx] = server.contexts()
    closing = {"context_id": ctx.context_id, "close_context": True}
    await server.wait_for(lambda: closing in ctx.messages and ctx.final)

    # The next utterance is a fresh context, spoken in full.
    await h.push(TTSSpeakFrame("Sure."))
    await h.wait_for(TTSStoppedFrame, where=lambda f: f.context_id != ctx.context_id)
    [_, ctx2] = server.contexts()
    after = [f for f in h.frames(TTSAudioRawFrame) if f.context_id == ctx2.context_id]
    assert seconds_of(after) == pytest.approx(server.expected_seconds(ctx2.text))
    # Nothing of the interrupted context came out after the interruption, though the
    # server finished it (text already flushed is spoken after close_context).
    seen = [s.frame for s in h.seen]
    cut = seen.index(h.frames(InterruptionFrame, FrameDirection.DOWNSTREAM)[0])
    late = [f for f in seen[cut:] if getattr(f, "context_id", None) == ctx.context_id]
    assert not [f for f in late if isinstance(f, (TTSAudioRawFrame, TTSTextFrame))]
    assert ctx.audio_seconds == pytest.approx(server.expected_seconds(ctx.text))
    assert h.frames(ErrorFrame) == []
    await h.stop()


async def test_after_a_barge_in_the_context_holds_only_the_words_played(tmp_path: Path):
    """As tests/conversation/test_interruption_truth.py does with Cartesia: Pipecat times each
    word from the alignment, the output transport releases it when its audio is due and
    drops the rest on the barge-in; voicebot adds the cut mark."""
    server = await ElevenLabsTTSServer(ms_per_char=round(SECS_PER_CHAR * 1000)).start()
    try:
        tts = ElevenLabsTTS(url=server.url(), api_key=server.api_key)
        session = await converse(tmp_path, [(0.3, 0.6), (3.9, 0.6)], 6.0, tts)
    finally:
        await server.stop()

    assert_kept_only_words_played(session, server.contexts()[0].words_sent, tmp_path)


# ---- failures -----------------------------------------------------------------------------------


async def test_a_refused_key_ends_the_session_with_a_vendor_error(elevenlabs_server, tmp_path):
    """ElevenLabs takes the upgrade and then closes with 1008. Pipecat retries three times
    (4 s apart) before it gives the service up; the session ends then, naming the stage.
    The reason is Pipecat's ("failed to reconnect"): the 1008 reason is only in its log."""
    caller = write_caller_wav(tmp_path / "caller.wav", [(1.0, 1.2)], total_secs=60.0)
    bot = Bot(
        stt=FakeSTT(transcripts=["When are you open?"]),
        llm=FakeLLM(replies=["At nine."]),
        tts=ElevenLabsTTS(url=elevenlabs_server.url(), api_key="sk_el_wrong"),
        vad="energy",
        turn="silence",
        greeting="Hello, this is the library.",
    )
    error, session = await run_failing(bot, caller, tmp_path)  # within half the recording

    assert error.stage == "ElevenLabsTTS"
    assert str(error).startswith(f"ElevenLabsTTS could not connect to {bot.tts.endpoint}: ")
    assert "sk_el_wrong" not in str(error)
    assert elevenlabs_server.rejected and set(elevenlabs_server.rejected) == {(1008, "sk_el_wrong")}
    assert all(c.close == (1008, "Invalid API key") for c in elevenlabs_server.connections)
    assert bot_lines(session) == []


async def test_a_server_error_mid_reply_costs_the_connection_not_the_service(
    elevenlabs_server_factory, harness
):
    """ElevenLabs reports a failure by closing the socket (1008 and a reason). Pipecat
    reconnects at once and reports nothing upstream: the reply stops where the audio did
    (failover sees a stall, below) and the next one is spoken on the new connection."""
    server = await elevenlabs_server_factory(fault="error", fault_after_chunks=2)
    tts = build(server)
    h = await harness(tts)

    await h.push(TTSSpeakFrame("This one fails half way through."))
    await server.wait_for(lambda: len(server.connections) == 2)
    failed = server.contexts()[0]
    assert server.connections[0].close == (1008, INTERNAL_ERROR)
    played = [f for f in h.frames(TTSAudioRawFrame) if f.context_id == failed.context_id]
    assert b"".join(f.audio for f in played) == server.connections[0].audio(failed.context_id)

    await h.push(TTSSpeakFrame("This one works."))
    await h.wait_for(TTSStoppedFrame, where=lambda f: f.context_id != failed.context_id)
    [_, ctx] = server.contexts()
    assert ctx in server.connections[1].history and ctx.final
    audio = [f for f in h.frames(TTSAudioRawFrame) if f.context_id == ctx.context_id]
    assert seconds_of(audio) == pytest.approx(server.expected_seconds(ctx.text))
    assert tts.is_usable and h.frames(ErrorFrame) == []
    await h.stop()


async def test_a_server_error_mid_reply_fails_over_word_for_word(tmp_path: Path):
    """``tts=[ElevenLabsTTS(...), FakeTTS(...)]``, ElevenLabs failing on turn 2's reply after
    its first chunk (as tests/faults does for Cartesia): the fallback says the rest, each
    word once, and the context holds the whole reply."""
    async with ElevenLabsTTSServer(fault="error", fault_context=2, fault_after_chunks=1) as server:

        async def run(workdir: Path):  # type: ignore[no-untyped-def]
            tts = [
                ElevenLabsTTS(url=server.url(), api_key=server.api_key),
                FakeTTS(ttfb_secs=0.05, secs_per_char=0.03),
            ]
            return await run_three_turn_call(
                three_turn_bot(tts=tts), workdir, case="elevenlabs-error"
            )

        case = FaultCase("tts", "elevenlabs", "error", DEFAULT_POLICY.tts_stall_secs, run)
        outcome = await case.run(tmp_path)

    assert server.faulted
    assert_survived(outcome, case, reply=ANSWERS[1])
    second = outcome.turn(2)
    assert second.said == second.heard == ANSWERS[1], outcome.summary()
    [switch] = [f for f in second.failovers if f["stage"] == "tts"]
    assert switch["from_provider"].startswith("ElevenLabsTTS"), outcome.summary()


@pytest.mark.xfail(
    strict=True,
    reason="when the connection is replaced Pipecat flushes the context's unvoiced text as "
    "timed words; voicebot drops such text only for a context that made no audio at all",
)
async def test_after_a_server_error_mid_reply_the_context_holds_only_the_words_voiced(
    elevenlabs_server_factory, tmp_path: Path
):
    server = await elevenlabs_server_factory(fault="error", fault_after_chunks=2)
    tts = ElevenLabsTTS(url=server.url(), api_key=server.api_key)
    session = await converse(tmp_path, [(0.3, 0.6), (3.9, 0.6)], 6.0, tts)

    assert [w for w, _, _ in server.contexts()[0].words_sent] == ["We", "open", "at", "nine"]
    said = assistant_message(session.llm.requests[1])
    assert said.startswith("We open at nine") and "weekday" not in said, said


# ---- the server itself keeps to the documented protocol -------------------------------------------


async def test_server_protocol_details(elevenlabs_server: ElevenLabsTTSServer):
    """Guards the fake: auth in the first message, flush, close_context, keepalive, limits."""
    server = elevenlabs_server
    url = server.url("some-voice") + "?model_id=m&output_format=pcm_8000"
    with pytest.raises(websockets.InvalidStatus) as missing:
        async with websockets.connect(server.url() + "/v1/nope"):
            pass
    assert missing.value.response.status_code == 404

    async def send(ws, *messages: dict) -> None:  # type: ignore[no-untyped-def]
        for message in messages:
            await ws.send(json.dumps(message))

    # Without auto_mode text waits for a flush; close_context drops what was never flushed.
    async with websockets.connect(url) as ws:
        await send(
            ws,
            {"text": " ", "context_id": "a", "xi_api_key": KEY},
            {"text": "Hi there, ", "context_id": "a"},
            {"text": "", "context_id": "b"},  # a keepalive opens nothing
            {"text": "friend.", "context_id": "a", "flush": True},
            {"text": "Never said.", "context_id": "a"},
            {"context_id": "a", "close_context": True},
        )
        await server.wait_for(lambda: bool(server.contexts()) and server.contexts()[0].final)
        await send(
            ws,
            {"text": " ", "context_id": "c", "voice_settings": {"speed": 1}},
            {"text": "x", "context_id": "c", "voice_settings": {"speed": 2}},
        )
        await ws.wait_closed()
    assert (ws.close_code, ws.close_reason) == (1008, VOICE_SETTINGS_CHANGED)
    [conn] = server.connections
    a = conn.history[0]
    assert a.spoken == [" Hi there, friend."] and "b" not in conn.contexts
    chars = [c for m in conn.sent if m.get("audio") for c in m["alignment"]["chars"]]
    assert "".join(chars) == " Hi there, friend."
    assert conn.sent[-1] == {"isFinal": True, "contextId": "a"}
    assert [w for w, _, _ in a.words_sent] == ["Hi", "there,", "friend."]
    assert len(conn.audio("a")) == 2 * round(8000 * server.expected_seconds(" Hi there, friend."))

    # At most 5 contexts at once; close_socket ends each (isFinal), then the socket (1000).
    opening = [{"text": " ", "context_id": f"k{i}"} for i in range(6)]
    for count, code in ((5, 1000), (6, 1008)):
        async with websockets.connect(url, additional_headers={"xi-api-key": KEY}) as ws:
            await send(ws, *opening[:count], {"close_socket": True})
            await ws.wait_closed()
        assert ws.close_code == code
    assert [m["contextId"] for m in server.connections[1].sent] == [f"k{i}" for i in range(5)]
    async with websockets.connect(url, additional_headers={"xi-api-key": "nope"}) as ws:
        await ws.wait_closed()
    assert (ws.close_code, ws.close_reason) == (1008, "Invalid API key")
    assert server.rejected == [(1008, "nope")]


# ---- against the real ElevenLabs ---------------------------------------------------------------


@pytest.mark.cloud
async def test_real_elevenlabs_speaks_with_word_times(harness):
    key = os.environ.get("ELEVENLABS_API_KEY")
    if not key:
        pytest.skip("ELEVENLABS_API_KEY not set: set it to run this test against ElevenLabs")
    tts = ElevenLabsTTS().build(BuildContext(env={"ELEVENLABS_API_KEY": key}))
    h = await harness(tts)
    await h.push(TTSSpeakFrame(TEXT))
    await h.wait_for(TTSStoppedFrame, timeout=15)
    assert h.frames(ErrorFrame) == [], [e.error for e in h.frames(ErrorFrame)]
    audio = h.frames(TTSAudioRawFrame)
    assert {f.sample_rate for f in audio} == {24000}
    assert 0.5 < seconds_of(audio) < 6
    words = [f.text.strip(".,?!").lower() for f in h.frames(TTSTextFrame)]
    assert words == ["hello", "there", "how", "are", "you"]
    await h.stop(timeout=10)
