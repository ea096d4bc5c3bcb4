"""Fake carrier peers, written from each carrier's media-stream documentation, not from the
serializers under test (μ-law from streamdouble's own G.711 tables, A-law from the stdlib).

Each peer knows what its carrier sends (``handshake``, ``audio``, ``dtmf``, ``stop``) and
reads what a bot sends back (``read``): ``("audio", pcm int16 at 8 kHz)``, ``("clear", None)``,
``("mark", None)`` or ``("other", None)``, asserting the envelope on the way, so a message in
the wrong shape fails the test where it arrives. Carriers that confirm playback say how:
``mark_name`` reads the name of a mark (Plivo: checkpoint) the bot sent, ``echo`` builds the
carrier's answer once the audio before it has played (tests/phone/playout.py simulates when),
and ``echo_on_clear`` says whether a clear returns the marks still queued at once.

Sources: Telnyx media streaming (developers.telnyx.com, "Media Streaming" WebSocket events),
Plivo audio streaming (plivo.com/docs/voice/xml/the-stream-element, "Streaming events"),
Exotel Voicebot applet (support.exotel.com article 3000108630), FreJun Teler
(frejun.ai/docs/media-streaming/supported-messages), the generic protocol in
voicebot/transports/phone/pcm.py.
"""

from __future__ import annotations

import audioop  # the stdlib's A-law, independent of Pipecat's converters
import base64
import json
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from streamdouble import g711

warnings.filterwarnings("ignore", category=DeprecationWarning)

Read = tuple[str, np.ndarray | None]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _pcm(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2")


def _alaw_encode(pcm: np.ndarray) -> bytes:
    return audioop.lin2alaw(pcm.astype("<i2").tobytes(), 2)


def _alaw_decode(data: bytes) -> np.ndarray:
    return _pcm(audioop.alaw2lin(data, 2))


@dataclass
class Peer:
    """What every fake carrier does; subclasses fill in their protocol."""

    call_id: str = "call-123"
    stream_id: str = "stream-456"
    caller: str = "+15550001111"
    #: The endpoint path: auto-detection by default.
    path: str = "/phone/ws"
    seq: int = field(default=0, init=False)

    name = "peer"
    has_dtmf = True
    echo_on_clear = False  # a clear returns the marks still queued (Twilio, Telnyx)

    def mark_name(self, message: str | bytes) -> str | None:
        """The name of the playback mark ``message`` is, or None (no marks: Teler, PCM)."""
        return None

    def echo(self, name: str) -> str:
        raise NotImplementedError

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def handshake(self) -> list[str | bytes]:
        raise NotImplementedError

    def audio(self, pcm: np.ndarray) -> str | bytes:
        raise NotImplementedError

    def dtmf(self, digit: str) -> str:
        raise NotImplementedError

    def stop(self) -> str | None:
        return None

    def read(self, message: str | bytes) -> Read:
        raise NotImplementedError


class TelnyxPeer(Peer):
    """Telnyx: ``connected``, ``start`` with ``media_format``, ``media`` PCMU/PCMA, ``dtmf``,
    ``stop``; from the app: ``media`` and ``clear``."""

    name = "telnyx"

    def __init__(self, encoding: str = "PCMU", **kw: Any) -> None:
        super().__init__(**kw)
        self.encoding = encoding

    def _encode(self, pcm: np.ndarray) -> bytes:
        return g711.encode(pcm) if self.encoding == "PCMU" else _alaw_encode(pcm)

    def handshake(self) -> list[str | bytes]:
        start = {
            "event": "start",
            "sequence_number": "1",
            "start": {
                "user_id": "u-1",
                "call_control_id": self.call_id,
                "client_state": None,
                "from": self.caller,
                "to": "+15559990000",
                "media_format": {"encoding": self.encoding, "sample_rate": 8000, "channels": 1},
            },
            "stream_id": self.stream_id,
        }
        return [json.dumps({"event": "connected", "version": "1.0.0"}), json.dumps(start)]

    def audio(self, pcm: np.ndarray) -> str:
        n = self.next_seq()
        media = {"track": "inbound", "chunk": str(n), "timestamp": str(n * 20)}
        media["payload"] = _b64(self._encode(pcm))
        return json.dumps(
            {
                "event": "media",
                "sequence_number": str(n),
                "media": media,
                "stream_id": self.stream_id,
            }
        )

    def dtmf(self, digit: str) -> str:
        return json.dumps({"event": "dtmf", "stream_id": self.stream_id, "dtmf": {"digit": digit}})

    def stop(self) -> str:
        return json.dumps(
            {
                "event": "stop",
                "stop": {"call_control_id": self.call_id},
                "stream_id": self.stream_id,
            }
        )

    echo_on_clear = True  # "A clear frame also returns queued marks."

    def mark_name(self, message: str | bytes) -> str | None:
        data = json.loads(message)
        if data.get("event") != "mark":
            return None
        assert data.get("stream_id") == self.stream_id
        name = data["mark"]["name"]
        assert isinstance(name, str)
        return name

    def echo(self, name: str) -> str:
        n = self.next_seq()
        return json.dumps(
            {
                "event": "mark",
                "sequence_number": str(n),
                "stream_id": self.stream_id,
                "mark": {"name": name},
            }
        )

    def read(self, message: str | bytes) -> Read:
        assert isinstance(message, str), "Telnyx takes text messages"
        data = json.loads(message)
        if data.get("event") == "clear":
            return "clear", None
        if data.get("event") == "mark":
            return "mark", None
        if data.get("event") == "media":
            raw = base64.b64decode(data["media"]["payload"], validate=True)
            pcm = g711.decode(raw) if self.encoding == "PCMU" else _alaw_decode(raw)
            return "audio", pcm
        return "other", None


class PlivoPeer(Peer):
    """Plivo: ``start`` first (``callId``, ``streamId``, ``mediaFormat``), ``media`` μ-law,
    ``dtmf``, ``stop``; from the app: ``playAudio`` and ``clearAudio``."""

    name = "plivo"

    def handshake(self) -> list[str | bytes]:
        start = {
            "event": "start",
            "sequenceNumber": 0,
            "start": {
                "callId": self.call_id,
                "streamId": self.stream_id,
                "accountId": "MA-1",
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
            },
            "extra_headers": f"from_number={self.caller},campaign=test",
        }
        return [json.dumps(start)]

    def audio(self, pcm: np.ndarray) -> str:
        n = self.next_seq()
        return json.dumps(
            {
                "event": "media",
                "sequenceNumber": n,
                "streamId": self.stream_id,
                "media": {
                    "track": "inbound",
                    "timestamp": str(n * 20),
                    "chunk": n,
                    "payload": _b64(g711.encode(pcm)),
                },
            }
        )

    def dtmf(self, digit: str) -> str:
        return json.dumps(
            {
                "event": "dtmf",
                "streamId": self.stream_id,
                "dtmf": {"track": "inbound", "digit": digit},
            }
        )

    def stop(self) -> str:
        return json.dumps({"event": "stop", "streamId": self.stream_id})

    def mark_name(self, message: str | bytes) -> str | None:
        data = json.loads(message)
        if data.get("event") != "checkpoint":
            return None
        assert data.get("streamId") == self.stream_id
        name = data["name"]
        assert isinstance(name, str)
        return name

    def echo(self, name: str) -> str:
        return json.dumps(
            {
                "event": "playedStream",
                "sequenceNumber": self.next_seq(),
                "streamId": self.stream_id,
                "name": name,
            }
        )

    def read(self, message: str | bytes) -> Read:
        assert isinstance(message, str), "Plivo takes text messages"
        data = json.loads(message)
        if data.get("event") == "checkpoint":
            return "mark", None
        if data.get("event") == "clearAudio":
            assert data.get("streamId") == self.stream_id
            return "clear", None
        if data.get("event") == "playAudio":
            media = data["media"]
            assert media["contentType"] == "audio/x-mulaw" and media["sampleRate"] == 8000
            return "audio", g711.decode(base64.b64decode(media["payload"], validate=True))
        return "other", None


class TwilioPeer(Peer):
    """Twilio Media Streams, for the buffer depths streamdouble cannot simulate: ``connected``,
    ``start`` (``streamSid``, ``callSid``, ``customParameters``), ``media`` μ-law, ``dtmf``,
    ``stop``; from the app: ``media``, ``mark`` and ``clear``, all with the ``streamSid``
    (twilio.com/docs/voice/media-streams/websocket-messages). A mark comes back once the
    media before it has played. On a clear this peer returns the queued marks at once, as
    Telnyx documents [unverified for Twilio; streamdouble drops them]: the harder case, since
    those echoes must not count as played."""

    name = "twilio"
    echo_on_clear = True

    def handshake(self) -> list[str | bytes]:
        start = {
            "event": "start",
            "sequenceNumber": "1",
            "start": {
                "accountSid": "AC1",
                "streamSid": self.stream_id,
                "callSid": self.call_id,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": {"from_number": self.caller},
            },
            "streamSid": self.stream_id,
        }
        connected = {"event": "connected", "protocol": "Call", "version": "1.0.0"}
        return [json.dumps(connected), json.dumps(start)]

    def audio(self, pcm: np.ndarray) -> str:
        n = self.next_seq()
        media = {"track": "inbound", "chunk": str(n), "timestamp": str(n * 20)}
        media["payload"] = _b64(g711.encode(pcm))
        return json.dumps(
            {
                "event": "media",
                "sequenceNumber": str(n + 1),
                "media": media,
                "streamSid": self.stream_id,
            }
        )

    def dtmf(self, digit: str) -> str:
        return json.dumps(
            {
                "event": "dtmf",
                "streamSid": self.stream_id,
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    def stop(self) -> str:
        return json.dumps(
            {"event": "stop", "streamSid": self.stream_id, "stop": {"callSid": self.call_id}}
        )

    def mark_name(self, message: str | bytes) -> str | None:
        data = json.loads(message)
        if data.get("event") != "mark":
            return None
        assert data.get("streamSid") == self.stream_id
        name = data["mark"]["name"]
        assert isinstance(name, str)
        return name

    def echo(self, name: str) -> str:
        return json.dumps(
            {
                "event": "mark",
                "sequenceNumber": str(self.next_seq()),
                "streamSid": self.stream_id,
                "mark": {"name": name},
            }
        )

    def read(self, message: str | bytes) -> Read:
        assert isinstance(message, str), "Twilio takes text messages"
        data = json.loads(message)
        assert data.get("streamSid") == self.stream_id, "every Twilio message names the stream"
        if data.get("event") == "clear":
            return "clear", None
        if data.get("event") == "mark":
            return "mark", None
        if data.get("event") == "media":
            return "audio", g711.decode(base64.b64decode(data["media"]["payload"], validate=True))
        return "other", None


class ExotelPeer(Peer):
    """Exotel: ``connected``, ``start`` (``stream_sid``, ``call_sid``, ``account_sid``),
    ``media`` of 16-bit PCM at 8 kHz, ``dtmf``, ``stop``; from the app: ``media``, ``clear``."""

    name = "exotel"

    def handshake(self) -> list[str | bytes]:
        start = {
            "event": "start",
            "sequence_number": 1,
            "stream_sid": self.stream_id,
            "start": {
                "stream_sid": self.stream_id,
                "call_sid": self.call_id,
                "account_sid": "exo-1",
                "from": self.caller,
                "to": "08012345678",
                "custom_parameters": {"lang": "en"},
                "media_format": {
                    "encoding": "base64",
                    "sample_rate": "8000",
                    "bit_rate": "128kbps",
                },
            },
        }
        return [json.dumps({"event": "connected"}), json.dumps(start)]

    def audio(self, pcm: np.ndarray) -> str:
        n = self.next_seq()
        media = {"chunk": n, "timestamp": str(n * 20), "payload": _b64(pcm.astype("<i2").tobytes())}
        return json.dumps(
            {
                "event": "media",
                "sequence_number": n + 1,
                "stream_sid": self.stream_id,
                "media": media,
            }
        )

    def dtmf(self, digit: str) -> str:
        return json.dumps(
            {
                "event": "dtmf",
                "stream_sid": self.stream_id,
                "dtmf": {"digit": digit, "duration": "80"},
            }
        )

    def stop(self) -> str:
        return json.dumps(
            {"event": "stop", "stream_sid": self.stream_id, "stop": {"call_sid": self.call_id}}
        )

    def read(self, message: str | bytes) -> Read:
        assert isinstance(message, str), "Exotel takes text messages"
        data = json.loads(message)
        if data.get("event") == "clear":
            assert data.get("stream_sid") == self.stream_id
            return "clear", None
        if data.get("event") == "media":
            assert data.get("stream_sid") == self.stream_id
            return "audio", _pcm(base64.b64decode(data["media"]["payload"], validate=True))
        return "other", None


class TelerPeer(Peer):
    """FreJun Teler: ``start`` with ``data`` (L16 at 8 kHz), then ``audio`` with ``audio_b64``
    under ``data`` or, like FreJun's bridge, at the top level (``envelope="top"``). From the
    app: ``audio`` (``audio_b64`` + increasing ``chunk_id``), ``clear``, ``interrupt``."""

    name = "teler"
    has_dtmf = False  # Teler documents none

    def __init__(self, envelope: str = "data", **kw: Any) -> None:
        super().__init__(**kw)
        self.envelope = envelope
        self.last_chunk = 0

    def handshake(self) -> list[str | bytes]:
        start = {
            "type": "start",
            "account_id": "acc-1",
            "call_app_id": "app-1",
            "call_id": self.call_id,
            "stream_id": self.stream_id,
            "message_id": 1,
            "data": {"encoding": "audio/l16", "sample_rate": 8000, "channels": 1},
        }
        return [json.dumps(start)]

    def audio(self, pcm: np.ndarray) -> str:
        n = self.next_seq()
        fields = {"audio_b64": _b64(pcm.astype("<i2").tobytes())}
        if self.envelope == "top":
            return json.dumps(
                {"type": "audio", "stream_id": self.stream_id, "message_id": n, **fields}
            )
        return json.dumps(
            {"type": "audio", "stream_id": self.stream_id, "message_id": n, "data": fields}
        )

    def read(self, message: str | bytes) -> Read:
        assert isinstance(message, str), "Teler takes text messages"
        data = json.loads(message)
        if data.get("type") in ("clear", "interrupt"):
            return "clear", None
        if data.get("type") == "audio":
            body = data["data"]  # voicebot sends the documented shape
            assert isinstance(body["chunk_id"], int) and body["chunk_id"] > self.last_chunk
            self.last_chunk = body["chunk_id"]
            return "audio", _pcm(base64.b64decode(body["audio_b64"], validate=True))
        return "other", None


class PCMPeer(Peer):
    """The generic socket: a ``start`` declaring the format, then binary audio (or JSON
    ``media`` with ``json=True``, μ-law here to exercise a second encoding)."""

    name = "pcm"

    def __init__(self, json_mulaw: bool = False, **kw: Any) -> None:
        super().__init__(**kw)
        self.json_mulaw = json_mulaw

    def handshake(self) -> list[str | bytes]:
        start = {
            "event": "start",
            "call_id": self.call_id,
            "from": self.caller,
            "encoding": "mulaw" if self.json_mulaw else "pcm16",
            "sample_rate": 8000,
            "format": "json" if self.json_mulaw else "binary",
        }
        return [json.dumps(start)]

    def audio(self, pcm: np.ndarray) -> str | bytes:
        if self.json_mulaw:
            return json.dumps({"event": "media", "payload": _b64(g711.encode(pcm))})
        return pcm.astype("<i2").tobytes()

    def dtmf(self, digit: str) -> str:
        return json.dumps({"event": "dtmf", "digit": digit})

    def stop(self) -> str:
        return json.dumps({"event": "stop"})

    def read(self, message: str | bytes) -> Read:
        if isinstance(message, bytes):
            assert not self.json_mulaw, "binary audio on a JSON socket"
            return "audio", _pcm(message)
        data = json.loads(message)
        if data.get("event") == "clear":
            return "clear", None
        if data.get("event") == "media":
            assert self.json_mulaw, "JSON audio on a binary socket"
            return "audio", g711.decode(base64.b64decode(data["payload"], validate=True))
        return "other", None
