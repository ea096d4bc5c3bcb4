"""Fuzz what reads carrier input: no exception escapes a serializer's ``deserialize`` (each
carrier's, as the phone transport runs it: Pipecat's inside ``GuardedSerializer``, ours bare)
nor the carrier detection (only ``CallSetupError``).

A few hundred inputs each in the suite; the long run (the figure in docs/telephony.md):

    VOICEBOT_FUZZ_EXAMPLES=10000 .venv/bin/pytest -q tests/phone/test_fuzz.py
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipecat.frames.frames import Frame
from pipecat.serializers.base_serializer import FrameSerializer

from voicebot.providers.base import BuildContext
from voicebot.transports.phone import Exotel, PhoneCall, Plivo, Telnyx, Twilio
from voicebot.transports.phone.detect import CallSetupError, read_call
from voicebot.transports.phone.guard import GuardedSerializer
from voicebot.transports.phone.pcm import PCMFrameSerializer
from voicebot.transports.phone.teler import TelerFrameSerializer

EXAMPLES = int(os.environ.get("VOICEBOT_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
payloads = (
    st.binary(max_size=700).map(lambda b: base64.b64encode(b).decode())
    | st.text(max_size=40)
    | json_values
)
events = st.sampled_from(
    ["media", "dtmf", "start", "connected", "mark", "clear", "playAudio", "audio", "x"]
)
messages = st.fixed_dictionaries(
    {},
    optional={
        "event": events,
        "type": events,
        "media": st.fixed_dictionaries({}, optional={"payload": payloads, "track": st.text()})
        | json_values,
        "dtmf": st.fixed_dictionaries({}, optional={"digit": st.text(max_size=2) | json_values})
        | json_values,
        "data": st.fixed_dictionaries({}, optional={"audio_b64": payloads}) | json_values,
        "audio_b64": payloads,
        "payload": payloads,
        "digit": st.text(max_size=2) | json_values,
        "start": json_values,
    },
)
inputs = (
    messages.map(json.dumps)
    | messages.map(lambda m: json.dumps(m).encode())
    | st.text(max_size=300)
    | st.binary(max_size=1200)
    | json_values.map(json.dumps)
)

CALL = PhoneCall(carrier="x", call_id="CA1", stream_id="MZ1", sample_rate=8000)
CTX = BuildContext(env={})


def _guarded(provider: Any) -> FrameSerializer:
    guard = GuardedSerializer(
        provider.serializer(CTX, CALL), carrier=provider.carrier, binary_audio=provider.binary_audio
    )
    return guard


SERIALIZERS: dict[str, Callable[[], FrameSerializer]] = {
    "twilio": lambda: _guarded(Twilio()),
    "telnyx": lambda: _guarded(Telnyx()),
    "plivo": lambda: _guarded(Plivo()),
    "exotel": lambda: _guarded(Exotel()),
    "teler": lambda: TelerFrameSerializer(),
    "teler-top": lambda: TelerFrameSerializer(envelope="top"),
    "pcm16": lambda: PCMFrameSerializer(encoding="pcm16"),
    "pcm-mulaw-json": lambda: PCMFrameSerializer(encoding="mulaw", binary=False),
}


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.mark.parametrize("name", list(SERIALIZERS))
def test_deserialize_never_raises(name: str, loop: asyncio.AbstractEventLoop) -> None:
    serializer = SERIALIZERS[name]()
    loop.run_until_complete(serializer.setup(SimpleNamespace(audio_in_sample_rate=16000)))  # type: ignore[arg-type]
    seen: list[type] = []

    @FUZZ
    @given(data=inputs)
    def run(data: str | bytes) -> None:
        frame = loop.run_until_complete(serializer.deserialize(data))
        assert frame is None or isinstance(frame, Frame)
        seen.append(type(frame))

    run()
    assert len(seen) >= min(EXAMPLES, 100)


class _Socket:
    """What ``read_call`` reads: queued ASGI messages, then a disconnect."""

    def __init__(self, items: list[str | bytes]) -> None:
        self.items = list(items)

    async def receive(self) -> dict[str, Any]:
        if not self.items:
            return {"type": "websocket.disconnect", "code": 1000}
        item = self.items.pop(0)
        key = "bytes" if isinstance(item, bytes) else "text"
        return {"type": "websocket.receive", key: item}


@pytest.mark.parametrize("carrier", [None, "twilio", "plivo", "teler", "pcm"])
def test_detection_raises_only_call_setup_errors(
    carrier: str | None, loop: asyncio.AbstractEventLoop
) -> None:
    @FUZZ
    @given(first=inputs, second=inputs)
    def run(first: str | bytes, second: str | bytes) -> None:
        try:
            call, _ = loop.run_until_complete(read_call(_Socket([first, second]), carrier))
        except CallSetupError:
            return
        assert call.carrier in ("twilio", "telnyx", "plivo", "exotel", "teler", "pcm")

    run()
