"""Which carrier is on the socket, and the call it describes, from its first messages.

Twilio, Telnyx, Plivo and Exotel are recognised by Pipecat's ``parse_telephony_websocket``
(the same rules as Pipecat's runner); FreJun Teler by its ``{"type": "start"}`` and the
generic PCM socket by a ``{"event": "start"}`` that is none of those, or by a first message
of raw audio. Messages read while detecting that come after the ``start`` (Plivo and Teler
send audio right after it) are kept and replayed to the transport (``ReplayWebSocket``), so
the caller's first words are not lost.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from voicebot.transports.phone.base import CARRIERS, PhoneCall

#: Seconds a carrier may take to send its ``start`` (they send it at once).
START_TIMEOUT_SECS = 10.0
#: The largest handshake message read (bytes); a ``start`` is well under 2 kB.
MAX_START_BYTES = 64 * 1024


class CallSetupError(Exception):
    """The socket did not start a call we can answer; the message says why, in one line."""


class ReplayWebSocket:
    """A Starlette ``WebSocket`` whose ``receive()`` first returns messages read earlier.

    Everything else is the socket's own (``send_text``, ``close``, states, ``headers``)."""

    def __init__(self, websocket: Any, pending: list[dict[str, Any]] | None = None) -> None:
        self._websocket = websocket
        self.pending = list(pending or [])

    async def receive(self) -> dict[str, Any]:
        if self.pending:
            return self.pending.pop(0)
        message: dict[str, Any] = await self._websocket.receive()
        return message

    def __getattr__(self, name: str) -> Any:
        return getattr(self._websocket, name)


def _text(message: dict[str, Any]) -> str | None:
    if message.get("type") == "websocket.disconnect":
        raise CallSetupError("the carrier closed the socket before the call started")
    text = message.get("text")
    return text if isinstance(text, str) else None


def _json(text: str) -> dict[str, Any]:
    if len(text) > MAX_START_BYTES:
        raise CallSetupError(f"a {len(text)}-byte first message (over {MAX_START_BYTES})")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise CallSetupError("the first message is not JSON") from None
    if not isinstance(data, dict):
        raise CallSetupError("the first message is not a JSON object")
    return data


def _rate(value: Any) -> int | None:
    """8000 from 8000, "8000", "8k" or "8 kHz"; None for anything else."""
    text = str(value).strip().lower().replace("khz", "k").replace(" ", "")
    try:
        return int(float(text[:-1]) * 1000) if text.endswith("k") else int(text)
    except ValueError:
        return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _params(value: Any) -> dict[str, str]:
    """Custom parameters as strings: a dict, or ``"k1=v1,k2=v2"`` (Plivo's extraHeaders)."""
    if isinstance(value, str):
        pairs = (part.partition("=") for part in value.split(",") if "=" in part)
        return {k.strip(): v.strip() for k, _, v in pairs}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int | float)}
    return {}


def _caller(params: dict[str, str], query: dict[str, str]) -> tuple[str | None, str | None]:
    """The caller's and dialled numbers from custom parameters or the stream URL's query."""
    sources = [params, query]

    def first(*keys: str) -> str | None:
        return next((s[k] for s in sources for k in keys if s.get(k)), None)

    return first("from_number", "from", "From", "caller"), first("to_number", "to", "To")


def _teler(start: dict[str, Any], query: dict[str, str]) -> PhoneCall:
    data = start.get("data") if isinstance(start.get("data"), dict) else {}
    assert isinstance(data, dict)
    params = _params(start.get("custom_parameters"))
    caller, dialled = _caller(params, query)
    return PhoneCall(
        carrier="teler",
        call_id=_str(start.get("call_id")),
        stream_id=_str(start.get("stream_id")),
        from_number=_str(start.get("from")) or caller,
        to_number=_str(start.get("to")) or dialled,
        encoding=_str(data.get("encoding")),
        sample_rate=_rate(data.get("sample_rate")) if "sample_rate" in data else None,
        params=params,
    )


def _pcm(start: dict[str, Any] | None, query: dict[str, str]) -> PhoneCall:
    start = start or {}
    params = _params({k: v for k, v in start.items() if k != "event"})
    caller, dialled = _caller(params, query)
    return PhoneCall(
        carrier="pcm",
        call_id=_str(start.get("call_id")),
        stream_id=_str(start.get("stream_id")),
        from_number=caller,
        to_number=dialled,
        encoding=_str(start.get("encoding")),
        sample_rate=_rate(start["sample_rate"]) if "sample_rate" in start else None,
        params=params,
    )


def _is_carrier_start(message: dict[str, Any]) -> bool:
    return isinstance(message.get("start"), dict)


async def _pipecat(
    websocket: Any, first: dict[str, Any], first_text: str, query: dict[str, str]
) -> tuple[PhoneCall, list[dict[str, Any]]]:
    """Twilio, Telnyx, Plivo or Exotel, through Pipecat's own detection."""
    from pipecat.runner.utils import parse_telephony_websocket

    # The handshake is read here (Pipecat reads the first two messages: "connected" and
    # "start", or Plivo's "start" and its first audio), so a socket with no start at all
    # is refused without a second log line from Pipecat's detection.
    read: list[tuple[dict[str, Any], dict[str, Any] | None]] = [
        ({"type": "websocket.receive", "text": first_text}, first)
    ]
    pending: list[dict[str, Any]] = []
    message = await websocket.receive()
    text = _text(message)
    if text is None:  # binary: not a handshake; kept for the transport
        pending.append(message)
    else:
        read.append((message, None if _is_carrier_start(first) else _json(text)))
    if not any(m is not None and _is_carrier_start(m) for _, m in read):
        seen = [m.get("event") or m.get("type") for _, m in read if m is not None]
        raise CallSetupError(f"no known carrier's start message (saw events {seen})")
    texts = [str(raw["text"]) for raw, _ in read]

    class Handshake:
        """What ``parse_telephony_websocket`` reads: the messages read above."""

        async def iter_text(self) -> AsyncIterator[str]:
            for text in texts:
                yield text

    try:
        carrier, data = await parse_telephony_websocket(Handshake())  # type: ignore[arg-type]
    except CallSetupError:
        raise
    except Exception as e:
        raise CallSetupError(f"the carrier's start message could not be read: {e}") from None
    if carrier not in CARRIERS:
        seen = [m.get("event") or m.get("type") for _, m in read if m is not None]
        raise CallSetupError(f"no known carrier's start message (saw events {seen[:4]})")
    after = [i for i, (_, m) in enumerate(read) if m is not None and _is_carrier_start(m)]
    kept = [raw for raw, _ in read[after[0] + 1 :]] if after else []
    start = read[after[0]][1] if after else {}
    assert start is not None
    body = start.get("start") if isinstance(start.get("start"), dict) else {}
    assert isinstance(body, dict)
    params = _params(data.body) or _params(body.get("custom_parameters"))
    params |= _params(start.get("extra_headers"))
    caller, dialled = _caller(params, query)
    media = body.get("media_format") or body.get("mediaFormat") or {}
    media = media if isinstance(media, dict) else {}
    rate = media.get("sample_rate") or media.get("sampleRate")
    return (
        PhoneCall(
            carrier=carrier,
            call_id=_str(data.call_id),
            stream_id=_str(data.stream_id),
            from_number=_str(data.from_number) or caller,
            to_number=_str(data.to_number) or dialled,
            encoding=_str(media.get("encoding")),
            sample_rate=_rate(rate) if rate is not None else None,
            params=params,
        ),
        kept + pending,
    )


async def read_call(
    websocket: Any,
    carrier: str | None = None,
    *,
    query: dict[str, str] | None = None,
    timeout: float = START_TIMEOUT_SECS,
) -> tuple[PhoneCall, ReplayWebSocket]:
    """The call on an accepted socket and the socket to give its transport, or a
    ``CallSetupError``. ``carrier``: the one expected (``/phone/ws/{carrier}``), else any.
    ``query``: the stream URL's query, where a webhook may put the caller's number."""
    try:
        return await asyncio.wait_for(_read(websocket, carrier, query or {}), timeout)
    except TimeoutError:
        raise CallSetupError(f"no start message from the carrier in {timeout:g}s") from None


async def _read(
    websocket: Any, carrier: str | None, query: dict[str, str]
) -> tuple[PhoneCall, ReplayWebSocket]:
    message = await websocket.receive()
    text = _text(message)
    if text is None:  # raw audio first: only the generic socket streams without a start
        if carrier not in (None, "pcm"):
            raise CallSetupError(f"a binary first message, not a {carrier} start message")
        return _pcm(None, query), ReplayWebSocket(websocket, [message])
    first = _json(text)
    if first.get("type") == "start" and carrier in (None, "teler"):
        return _teler(first, query), ReplayWebSocket(websocket)
    if first.get("event") == "start" and not _is_carrier_start(first) and carrier in (None, "pcm"):
        return _pcm(first, query), ReplayWebSocket(websocket)
    if carrier in ("teler", "pcm"):
        raise CallSetupError(f"the first message is not a {carrier} start message")
    if first.get("type") == "start":
        raise CallSetupError(f"a teler start message, not a {carrier} start message")
    call, pending = await _pipecat(websocket, first, text, query)
    if carrier is not None and call.carrier != carrier:
        raise CallSetupError(f"a {call.carrier} start message on the {carrier} endpoint")
    return call, ReplayWebSocket(websocket, pending)
