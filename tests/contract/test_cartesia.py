"""Contract tests: ``CartesiaTTS`` against a local server speaking Cartesia's WebSocket protocol.

The provider is built as a bot builds it, pointed at the local server with ``url``, and
driven through a real Pipecat pipeline. The tests check what comes out (audio at the right
rate and length, word frames, errors) and what the server saw (headers, requests, cancels).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os

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
from pipecat.utils.errors import ErrorCategory

from tests.contract.servers.cartesia_tts import CartesiaTTSServer
from voicebot.providers.base import BuildContext
from voicebot.providers.cartesia import DEFAULT_VOICE, CartesiaTTS

pytestmark = pytest.mark.contract

KEY = "sk_car_contract"
TEXT = "Hello there. How are you?"


def build(server: CartesiaTTSServer, **options):  # type: ignore[no-untyped-def]
    options.setdefault("api_key", KEY)
    return CartesiaTTS(url=server.url, **options).build(BuildContext())


def seconds_of(frames: list[TTSAudioRawFrame]) -> float:
    return sum(len(f.audio) for f in frames) / (2 * frames[0].sample_rate)


def sent_audio(server: CartesiaTTSServer, context_id: str) -> bytes:
    return b"".join(
        base64.b64decode(m["data"])
        for conn in server.connections
        for m in conn.sent
        if m.get("type") == "chunk" and m["context_id"] == context_id
    )


# ---- the happy path ------------------------------------------------------------------------------


async def test_speak_frame_is_synthesized_with_pipecat_run_test(cartesia_server: CartesiaTTSServer):
    tts = build(cartesia_server)

    down, up = await run_test(tts, frames_to_send=[TTSSpeakFrame(TEXT), SleepFrame(sleep=0.5)])

    assert not [f for f in up if isinstance(f, ErrorFrame)]
    audio = [f for f in down if isinstance(f, TTSAudioRawFrame)]
    assert audio, "no audio came out"
    assert {(f.sample_rate, f.num_channels) for f in audio} == {(24000, 1)}
    assert seconds_of(audio) == pytest.approx(cartesia_server.expected_seconds(TEXT))
    started = next(i for i, f in enumerate(down) if isinstance(f, TTSStartedFrame))
    stopped = next(i for i, f in enumerate(down) if isinstance(f, TTSStoppedFrame))
    assert started < down.index(audio[0]) and down.index(audio[-1]) < stopped
    # Words come from the server's timestamps, in order.
    assert [f.text for f in down if isinstance(f, TTSTextFrame)] == TEXT.split()

    [conn] = cartesia_server.connections
    assert conn.path == "/tts/websocket"
    assert conn.headers["X-API-Key"] == KEY
    assert conn.api_version == "2026-03-01"
    [ctx] = conn.contexts.values()
    # The audio that came out is byte for byte what the server sent.
    assert b"".join(f.audio for f in audio) == sent_audio(cartesia_server, ctx.context_id)
    assert all(f.context_id == ctx.context_id for f in audio)
    assert ctx.transcript == TEXT
    assert ctx.done and not ctx.cancelled and ctx.error is None
    first, last = ctx.requests[0], ctx.requests[-1]
    assert first["model_id"] == "sonic-3"
    assert first["voice"] == {"mode": "id", "id": DEFAULT_VOICE}
    assert first["output_format"] == {
        "container": "raw",
        "encoding": "pcm_s16le",
        "sample_rate": 24000,
    }
    assert first["language"] == "en"
    assert first["add_timestamps"] is True
    assert first["continue"] is True
    # The utterance is closed with continue=false on the same context.
    assert last["continue"] is False and last["transcript"] == ""


async def test_llm_reply_is_one_context_spoken_sentence_by_sentence(cartesia_server, harness):
    h = await harness(build(cartesia_server))

    await h.push(
        LLMFullResponseStartFrame(),
        *(LLMTextFrame(t) for t in ["Hello ", "there. ", "How are", " you?"]),
        LLMFullResponseEndFrame(),
    )
    await h.wait_for(LLMFullResponseEndFrame, direction=FrameDirection.DOWNSTREAM)

    [ctx] = cartesia_server.contexts()
    sentences = [r["transcript"] for r in ctx.requests if r["transcript"]]
    assert [s.strip() for s in sentences] == ["Hello there.", "How are you?"]
    assert [r["continue"] for r in ctx.requests] == [True] * len(sentences) + [False]
    audio = h.frames(TTSAudioRawFrame)
    expected = sum(cartesia_server.expected_seconds(s) for s in sentences)
    assert seconds_of(audio) == pytest.approx(expected)
    assert [f.text for f in h.frames(TTSTextFrame)] == TEXT.split()
    # The reply ends after its audio.
    seen = [s.frame for s in h.seen]
    assert seen.index(audio[-1]) < seen.index(h.frames(LLMFullResponseEndFrame)[0])
    assert h.frames(ErrorFrame) == []
    await h.stop()


@pytest.mark.parametrize(
    ("provider_rate", "pipeline_rate"),
    [(None, 16000), (22050, 22050)],
    ids=["pipeline-rate", "provider-rate"],
)
async def test_provider_options_reach_the_request(
    cartesia_server_factory, harness, provider_rate, pipeline_rate
):
    server = await cartesia_server_factory(
        api_key="sk_car_from_env", models={"sonic-2"}, voices={"my-voice-id"}
    )
    provider = CartesiaTTS(
        voice="my-voice-id",
        model="sonic-2",
        language="fr",
        url=server.url,
        sample_rate=provider_rate,
    )
    ctx = BuildContext(
        audio_out_sample_rate=pipeline_rate, env={"CARTESIA_API_KEY": "sk_car_from_env"}
    )
    provider.check(ctx)
    tts = provider.build(ctx)
    h = await harness(tts, PipelineParams(audio_out_sample_rate=pipeline_rate))

    await h.push(TTSSpeakFrame("Bonjour tout le monde."))
    await h.wait_for(TTSStoppedFrame)

    [conn] = server.connections
    assert conn.headers["X-API-Key"] == "sk_car_from_env"
    request = conn.generation_requests()[0]
    assert request["model_id"] == "sonic-2"
    assert request["voice"] == {"mode": "id", "id": "my-voice-id"}
    assert request["language"] == "fr"
    assert request["output_format"]["sample_rate"] == pipeline_rate
    audio = h.frames(TTSAudioRawFrame)
    assert {f.sample_rate for f in audio} == {pipeline_rate}
    assert seconds_of(audio) == pytest.approx(server.expected_seconds("Bonjour tout le monde."))
    assert h.frames(ErrorFrame) == []
    await h.stop()


async def test_interruption_cancels_the_context_on_the_server(cartesia_server_factory, harness):
    # Real-time-ish generation so the interruption lands mid-utterance.
    server = await cartesia_server_factory(chunk_delay=0.05)
    long_text = "This is a rather long sentence that takes quite a while to say out loud."
    h = await harness(build(server))

    await h.push(TTSSpeakFrame(long_text))
    await h.wait_for(TTSAudioRawFrame, count=3)
    await h.push(InterruptionFrame())
    [ctx] = server.contexts()
    await server.wait_for(lambda: ctx.cancelled, timeout=2)

    assert server.connections[0].cancels() == [{"context_id": ctx.context_id, "cancel": True}]
    chunks_at_cancel = ctx.chunks_sent
    await asyncio.sleep(0.3)
    assert ctx.chunks_sent == chunks_at_cancel, "server kept generating after cancel"
    assert not ctx.done
    assert ctx.audio_seconds < server.expected_seconds(long_text) / 2
    heard = seconds_of(h.frames(TTSAudioRawFrame))
    assert heard <= ctx.audio_seconds

    # The next utterance starts a fresh context and is spoken in full.
    await h.push(TTSSpeakFrame("Sure."))
    await h.wait_for(TTSStoppedFrame, where=lambda f: f.context_id != ctx.context_id)
    [_, ctx2] = server.contexts()
    assert ctx2.done and ctx2.transcript == "Sure."
    after = [f for f in h.frames(TTSAudioRawFrame) if f.context_id == ctx2.context_id]
    assert seconds_of(after) == pytest.approx(server.expected_seconds("Sure."))
    assert h.frames(ErrorFrame) == []
    await h.stop()


# ---- failures -----------------------------------------------------------------------------------


async def test_bad_key_is_reported_and_pipeline_keeps_going(cartesia_server, harness):
    tts = build(cartesia_server, api_key="sk_car_wrong")
    h = await harness(tts)

    [error] = await h.wait_for(ErrorFrame, direction=FrameDirection.UPSTREAM)
    assert error.processor is tts
    assert "401" in error.error
    assert error.category is ErrorCategory.AUTHENTICATION
    assert "sk_car_wrong" not in error.error, "the API key leaked into the error message"
    assert not tts.is_usable

    # Speaking afterwards neither hangs nor retries the handshake.
    await h.push(TTSSpeakFrame(TEXT))
    await h.wait_for(TTSStartedFrame)
    await asyncio.sleep(0.3)
    assert h.frames(TTSAudioRawFrame) == []
    assert cartesia_server.rejected == [(401, "sk_car_wrong")]
    assert cartesia_server.connections == []
    assert await h.stop() < 5


async def test_server_error_is_reported_and_next_utterance_still_works(
    cartesia_server_factory, harness
):
    server = await cartesia_server_factory(
        fail_contexts=1,
        error_code="rate_limited",
        error_status=429,
        error_title="Too many requests",
    )
    tts = build(server)
    h = await harness(tts)

    await h.push(TTSSpeakFrame("This one fails."))
    [error] = await h.wait_for(ErrorFrame, direction=FrameDirection.UPSTREAM)
    assert error.processor is tts
    assert "rate_limited" in error.error
    failed = server.contexts()[0]
    assert failed.error is not None and failed.error["context_id"] == failed.context_id
    await h.wait_for(TTSStoppedFrame, where=lambda f: f.context_id == failed.context_id)
    assert tts.is_usable, "one failed request does not write the service off"

    # Pipecat keeps the failed context open until its 3 s audio timeout, so allow for that.
    await h.push(TTSSpeakFrame("This one works."))
    await h.wait_for(TTSStoppedFrame, where=lambda f: f.context_id != failed.context_id, timeout=6)
    _, ctx = server.contexts()
    assert ctx.done and ctx.transcript == "This one works."
    audio = [f for f in h.frames(TTSAudioRawFrame) if f.context_id == ctx.context_id]
    assert seconds_of(audio) == pytest.approx(server.expected_seconds("This one works."))
    assert not [f for f in h.frames(TTSAudioRawFrame) if f.context_id == failed.context_id]
    assert len(server.connections) == 1, "an error message must not cost the connection"
    assert await h.stop() < 5


async def test_unknown_voice_is_reported(cartesia_server_factory, harness):
    server = await cartesia_server_factory(voices={DEFAULT_VOICE})
    tts = build(server, voice="no-such-voice")
    h = await harness(tts)

    await h.push(TTSSpeakFrame(TEXT))
    [error] = await h.wait_for(ErrorFrame, direction=FrameDirection.UPSTREAM)
    assert "voice_not_found" in error.error
    assert server.contexts()[0].error["status_code"] == 404
    assert h.frames(TTSAudioRawFrame) == []
    await h.stop()


# ---- the server itself keeps to the documented protocol -------------------------------------------


async def test_server_protocol_details(cartesia_server: CartesiaTTSServer):
    """Guards the fake: handshake checks, continuations, flush, cancel, timestamps."""
    url = cartesia_server.url
    with pytest.raises(websockets.InvalidStatus) as missing_version:
        async with websockets.connect(url, additional_headers={"X-API-Key": KEY}):
            pass
    assert missing_version.value.response.status_code == 400

    # Browsers pass the key and version as query parameters.
    async with websockets.connect(f"{url}?api_key={KEY}&cartesia_version=2026-03-01") as ws:
        base = {
            "model_id": "sonic-3",
            "voice": {"mode": "id", "id": DEFAULT_VOICE},
            "output_format": {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 8000},
            "context_id": "ctx-1",
            "add_timestamps": True,
        }
        await ws.send(json.dumps({**base, "transcript": "Hi there, ", "continue": True}))
        await ws.send(json.dumps({**base, "transcript": "", "continue": True, "flush": True}))
        await ws.send(json.dumps({**base, "transcript": "friend.", "continue": False}))
        await ws.send(
            json.dumps({**base, "context_id": "ctx-2", "transcript": "Gone.", "continue": True})
        )
        await ws.send(json.dumps({"context_id": "ctx-2", "cancel": True}))
        messages = []
        while not messages or messages[-1]["type"] != "done":
            messages.append(json.loads(await asyncio.wait_for(ws.recv(), 2)))

    ctx1 = [m for m in messages if m["context_id"] == "ctx-1"]
    types = [m["type"] for m in ctx1]
    assert types[-1] == "done" and types.count("done") == 1
    assert types.index("flush_done") < max(i for i, t in enumerate(types) if t == "chunk")
    words = [w for m in ctx1 if m["type"] == "timestamps" for w in m["word_timestamps"]["words"]]
    starts = [s for m in ctx1 if m["type"] == "timestamps" for s in m["word_timestamps"]["start"]]
    assert words == ["Hi", "there,", "friend."]
    assert starts == sorted(starts) and starts[0] == 0
    audio = b"".join(base64.b64decode(m["data"]) for m in ctx1 if m["type"] == "chunk")
    assert len(audio) == 2 * round(8000 * cartesia_server.expected_seconds("Hi there, friend."))
    ctx2 = cartesia_server.connections[0].contexts["ctx-2"]
    assert ctx2.cancelled and not ctx2.done


# ---- against the real Cartesia --------------------------------------------------------------------


@pytest.mark.cloud
async def test_real_cartesia_speaks_and_rejects_bad_key(harness):
    key = os.environ.get("CARTESIA_API_KEY")
    if not key:
        pytest.skip(
            "CARTESIA_API_KEY not set: set it to run this test against the real Cartesia API"
        )
    tts = CartesiaTTS().build(BuildContext(env={"CARTESIA_API_KEY": key}))
    h = await harness(tts)
    await h.push(TTSSpeakFrame(TEXT))
    await h.wait_for(TTSStoppedFrame, timeout=15)
    assert h.frames(ErrorFrame) == [], [e.error for e in h.frames(ErrorFrame)]
    audio = h.frames(TTSAudioRawFrame)
    assert {f.sample_rate for f in audio} == {24000}
    assert 0.5 < seconds_of(audio) < 6
    assert [f.text.strip(".,?!").lower() for f in h.frames(TTSTextFrame)] == [
        "hello",
        "there",
        "how",
        "are",
        "you",
    ]
    await h.stop(timeout=10)

    bad = CartesiaTTS(api_key="not-a-real-cartesia-key").build(BuildContext())
    hb = await harness(bad)
    await hb.wait_for(ErrorFrame, direction=FrameDirection.UPSTREAM, timeout=10)
    assert not bad.is_usable
    await hb.stop(timeout=10)
