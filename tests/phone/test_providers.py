"""The phone transports as spec objects: names, credential rules with one-line errors, the
worker refusing a bad phone spec at start, and carrier detection from the first messages."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest

from voicebot import Bot, ConfigError, registry
from voicebot.providers.base import BuildContext
from voicebot.transports.phone import Exotel, PhoneCall, Plivo, Telnyx, Twilio
from voicebot.transports.phone.detect import CallSetupError, read_call
from voicebot.transports.phone.pcm import PhoneWebSocket
from voicebot.transports.phone.teler import Teler


def ctx(**env: str) -> BuildContext:
    return BuildContext(env=env)


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("twilio", Twilio),
        ("telnyx", Telnyx),
        ("plivo", Plivo),
        ("exotel", Exotel),
        ("teler", Teler),
        ("pcm", PhoneWebSocket),
    ],
)
def test_each_carrier_is_a_named_transport(name: str, cls: type) -> None:
    assert registry.lookup("transport", name) is cls
    bot = Bot(transport=name)
    assert isinstance(bot.transport, cls)
    with pytest.raises(ConfigError, match=r"voicebot serve FILE.py.*POST /phone/"):
        bot.check(env={})


def test_twilio_without_credentials_answers_without_rest_hang_up() -> None:
    assert Twilio().credentials(ctx()) is None
    full = Twilio().credentials(ctx(TWILIO_ACCOUNT_SID="AC1", TWILIO_AUTH_TOKEN="t" * 32))
    assert full == {"account_sid": "AC1", "auth_token": "t" * 32}
    keys = Twilio(account_sid="AC1", api_key_sid="SK1", api_key_secret="s" * 32)
    assert keys.credentials(ctx())["api_key_sid"] == "SK1"  # type: ignore[index]
    assert Twilio(rest_hang_up=False).credentials(ctx(TWILIO_ACCOUNT_SID="AC1")) is None


@pytest.mark.parametrize(
    ("provider", "env", "match"),
    [
        (Twilio(account_sid="AC1"), {}, "auth_token=... or TWILIO_AUTH_TOKEN"),
        (Twilio(auth_token="t" * 32), {}, "account_sid=... or TWILIO_ACCOUNT_SID"),
        (Twilio(rest_hang_up=True), {}, "account_sid"),
        (
            Twilio(account_sid="AC1", auth_token="t" * 32, api_key_sid="SK1"),
            {},
            "not both",
        ),
        (Telnyx(rest_hang_up=True), {}, "TELNYX_API_KEY"),
        (Plivo(auth_id="MA1"), {}, "PLIVO_AUTH_TOKEN"),
    ],
)
def test_incomplete_explicit_credentials_are_one_line_errors(
    provider: Any, env: dict[str, str], match: str
) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        provider.check_credentials(ctx(**env))
    assert "\n" not in str(info.value)


def test_incomplete_credentials_in_the_environment_only_warn() -> None:
    assert Twilio().credentials(ctx(TWILIO_AUTH_TOKEN="t" * 32)) is None
    assert Plivo().credentials(ctx(PLIVO_AUTH_ID="MA1")) is None


def test_a_worker_refuses_a_phone_bot_with_incomplete_credentials() -> None:
    from voicebot.server.worker import build_app
    from voicebot.testing import FakeLLM, FakeSTT, FakeTTS

    bot = Bot(stt=FakeSTT(), llm=FakeLLM(), tts=FakeTTS(), transport=Twilio(account_sid="AC1"))
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        build_app(bot, calls=1, loopback_ice=False, ice_servers=[])


def test_a_serializer_is_built_without_credentials_for_every_carrier() -> None:
    call = PhoneCall(carrier="x", call_id="CA1", stream_id="MZ1")
    for provider in (Twilio(), Telnyx(), Plivo(), Exotel(), Teler(), PhoneWebSocket()):
        assert provider.serializer(ctx(), call) is not None


def test_a_carrier_encoding_voicebot_cannot_convert_is_refused() -> None:
    with pytest.raises(ConfigError, match="PCMU or PCMA"):
        Telnyx().serializer(ctx(), PhoneCall(carrier="telnyx", encoding="L16"))


class Socket:
    def __init__(self, *items: str | bytes) -> None:
        self.items = list(items)

    async def receive(self) -> dict[str, Any]:
        if not self.items:
            return {"type": "websocket.disconnect", "code": 1000}
        item = self.items.pop(0)
        key = "bytes" if isinstance(item, bytes) else "text"
        return {"type": "websocket.receive", key: item}


async def test_twilio_is_detected_from_connected_and_start() -> None:
    start = {
        "event": "start",
        "start": {
            "streamSid": "MZ1",
            "callSid": "CA1",
            "accountSid": "AC1",
            "customParameters": {"from_number": "+1555", "tenant": "t1"},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
        "streamSid": "MZ1",
    }
    media = json.dumps({"event": "media", "media": {"payload": "//8="}})
    socket = Socket(json.dumps({"event": "connected"}), json.dumps(start), media)
    call, replay = await read_call(socket)
    assert (call.carrier, call.call_id, call.stream_id) == ("twilio", "CA1", "MZ1")
    assert call.from_number == "+1555" and call.params["tenant"] == "t1"
    assert call.sample_rate == 8000
    assert (await replay.receive())["text"] == media  # the stream goes on where it was


async def test_plivos_first_audio_after_its_start_is_replayed() -> None:
    start = {"event": "start", "start": {"callId": "c", "streamId": "s"}}
    media = json.dumps({"event": "media", "media": {"payload": "//8="}})
    call, replay = await read_call(Socket(json.dumps(start), media))
    assert call.carrier == "plivo"
    assert (await replay.receive())["text"] == media


async def test_raw_audio_first_is_the_generic_socket_and_is_kept() -> None:
    call, replay = await read_call(Socket(b"\x00\x00" * 160), query={"from": "+1999"})
    assert call.carrier == "pcm" and call.from_number == "+1999"
    assert (await replay.receive())["bytes"] == b"\x00\x00" * 160


async def test_teler_start_is_read_with_its_format() -> None:
    start = {
        "type": "start",
        "call_id": "c1",
        "stream_id": "s1",
        "data": {"encoding": "audio/l16", "sample_rate": "8k", "channels": 1},
    }
    call, _ = await read_call(Socket(json.dumps(start)))
    assert (call.carrier, call.call_id, call.sample_rate) == ("teler", "c1", 8000)


async def test_a_start_on_the_wrong_endpoint_is_refused() -> None:
    start = {"type": "start", "call_id": "c1"}
    with pytest.raises(CallSetupError, match="not a twilio start"):
        await read_call(Socket(json.dumps(start)), "twilio")
    with pytest.raises(CallSetupError, match="closed the socket"):
        await read_call(Socket())


@pytest.mark.parametrize(
    ("provider", "call", "rate"),
    [
        (Teler(), PhoneCall(carrier="teler", sample_rate=8000), 8000),
        (Teler(), PhoneCall(carrier="teler", sample_rate=16000), 16000),
        (PhoneWebSocket(), PhoneCall(carrier="pcm", sample_rate=16000), 16000),
        (PhoneWebSocket(), PhoneCall(carrier="pcm"), 8000),
    ],
)
async def test_the_whole_reply_reaches_the_line_for_carriers_negotiating_their_rate(
    provider: Any, call: PhoneCall, rate: int
) -> None:
    """The output transport writes the call's line rate, so the serializer resamples
    nothing: a stream resampler (24 kHz -> 8 kHz) holds back ~140 ms at the end of every
    reply and drops it when the audio stops, so the end of each reply was never sent."""
    from pipecat.frames.frames import OutputAudioRawFrame

    assert provider.output_rate(call) == rate
    serializer = provider.serializer(ctx(), call)
    pcm = (np.sin(np.arange(rate // 5) * 0.3) * 8000).astype(np.int16).tobytes()  # 200 ms
    out = await serializer.serialize(OutputAudioRawFrame(pcm, rate, 1))
    assert out is not None
    if isinstance(out, str):
        message = json.loads(out)
        audio = (message.get("data") or message)["audio_b64"]
        out = base64.b64decode(audio)
    assert len(out) == len(pcm)  # every sample of the chunk, at once (16-bit PCM)
