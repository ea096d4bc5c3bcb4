"""The supervisor's side of phone calls: the carrier webhook reserves a slot and answers
with a one-time stream URL, or makes the carrier say the lines are busy; Twilio's signature
is checked; a media socket without a valid ticket is refused.

A call's socket is handed to its worker (``voicebot.server.socket_handoff``), or relayed with
``--relay-phone``: one Teler call each way here; the worker's phone endpoint, with real
carrier protocols, is tested with the phone transports."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from tests.serving.conftest import FAKE_BOT, Served
from voicebot.redaction import mask_number


def stream_url(xml: str) -> str:
    found = re.search(r'<Stream url="([^"]+)"', xml)
    assert found, xml
    return found.group(1)


def test_a_webhook_reserves_a_slot_and_the_next_finds_the_lines_busy(
    serve: Callable[..., Served],
) -> None:
    served = serve(str(FAKE_BOT), "--workers", "1")
    first = httpx.post(f"{served.url}phone/twilio", data={"CallSid": "CA1", "From": "+15550001"})
    assert first.status_code == 200 and "xml" in first.headers["content-type"]
    url = stream_url(first.text)
    # Twilio's stream does not carry the numbers: the TwiML passes them as parameters.
    assert '<Parameter name="from_number" value="+15550001"/>' in first.text
    assert re.fullmatch(r"ws://127\.0\.0\.1:\d+/phone/ws/twilio/[\w-]{20,}", url), url
    # The one slot is held for that call's stream: the next caller hears "busy" from Twilio.
    busy = httpx.post(f"{served.url}phone/twilio", data={"CallSid": "CA2"})
    assert busy.status_code == 200
    assert "<Say>" in busy.text and "busy" in busy.text and "<Hangup/>" in busy.text
    assert "<Stream" not in busy.text
    assert served.metric('voicebot_calls_refused_total{reason="full"}') == 1
    plivo = httpx.post(f"{served.url}phone/plivo", data={})
    assert "<Speak>" in plivo.text  # Plivo's verb
    teler = httpx.post(f"{served.url}phone/teler", data={})
    assert teler.json() == {"action": "hangup"}
    assert httpx.post(f"{served.url}phone/nokia", data={}).status_code == 404


def test_a_socket_without_a_valid_ticket_is_refused(serve: Callable[..., Served]) -> None:
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    served = serve(str(FAKE_BOT), "--workers", "1")
    base = served.url.replace("http://", "ws://")
    for path in ("phone/ws/twilio/not-a-ticket", "phone/ws/nokia"):
        with (
            pytest.raises((ConnectionClosed, InvalidStatus)),
            connect(base + path, open_timeout=30) as ws,
        ):
            ws.recv(timeout=30)
    # A ticket is for one carrier and one use.
    url = stream_url(httpx.post(f"{served.url}phone/twilio", data={}).text)
    with (
        pytest.raises((ConnectionClosed, InvalidStatus)),
        connect(url.replace("/twilio/", "/telnyx/"), open_timeout=30) as ws,
    ):
        ws.recv(timeout=30)


def test_media_sockets_are_not_deflated(serve: Callable[..., Served]) -> None:
    """A carrier that offers permessage-deflate gets plain frames: compressing 50 small
    audio messages a second per call costs the server CPU and saves little."""
    from websockets.sync.client import connect

    served = serve(str(FAKE_BOT), "--workers", "1")
    url = stream_url(httpx.post(f"{served.url}phone/twilio", data={}).text)
    with connect(url, open_timeout=30) as ws:  # the client offers permessage-deflate
        assert ws.protocol.extensions == []


def test_twilio_signatures_are_checked_when_its_auth_token_is_set(
    serve: Callable[..., Served],
) -> None:
    from twilio.request_validator import RequestValidator

    token = "twilio-auth-token-for-tests"
    served = serve(str(FAKE_BOT), "--workers", "1", env={"TWILIO_AUTH_TOKEN": token})
    form = {"CallSid": "CA9", "From": "+15550009"}
    unsigned = httpx.post(f"{served.url}phone/twilio", data=form)
    assert unsigned.status_code == 403
    forged = httpx.post(
        f"{served.url}phone/twilio", data=form, headers={"X-Twilio-Signature": "AAAA"}
    )
    assert forged.status_code == 403
    url = f"{served.url}phone/twilio"
    signature = RequestValidator(token).compute_signature(url, form)
    signed = httpx.post(url, data=form, headers={"X-Twilio-Signature": signature})
    assert signed.status_code == 200 and "<Stream" in signed.text
    assert "+15550009" not in served.log()  # refused payloads are not logged


async def test_an_unused_ticket_frees_its_slot_after_a_while(
    serve: Callable[..., Served],
) -> None:
    """Bounded by the ticket's lifetime (30 s): the slot comes back without any call."""
    served = serve(str(FAKE_BOT), "--workers", "1")
    httpx.post(f"{served.url}phone/twilio", data={})
    assert served.get("readyz").status_code == 503  # held by the ticket
    from tests.serving.conftest import eventually

    async def free() -> None:
        # Expiry is checked when the gateway is next used: a webhook does that.
        await eventually(
            "the unused ticket's slot is free again",
            lambda: "<Stream" in httpx.post(f"{served.url}phone/twilio", data={}).text,
            served.log,
        )

    await free()


@pytest.mark.parametrize("path", ["handed over", "relayed"])
async def test_a_teler_call_through_the_supervisor_is_answered_and_frees_its_slot(
    serve: Callable[..., Served], path: str
) -> None:
    """Webhook → one-time stream URL → the socket handed to a worker (or, with
    ``--relay-phone``, relayed) → the bot answers, barge-in clears, the caller's number from
    the webhook reaches the call, hang-up frees the slot."""
    from tests.phone.driver import converse
    from tests.phone.peers import TelerPeer
    from tests.serving.conftest import eventually

    extra = ["--relay-phone"] if path == "relayed" else []
    served = serve(str(FAKE_BOT), "--workers", "1", *extra)
    flow = httpx.post(f"{served.url}phone/teler", json={"from": "+15550042", "to": "+15550100"})
    assert flow.status_code == 200, flow.text
    answer = flow.json()
    assert answer["action"] == "stream" and "from=%2B15550042" in answer["ws_url"]
    heard = await converse(answer["ws_url"], TelerPeer())
    assert not heard.errors, heard.errors
    assert heard.first_audio.is_set() and heard.clear.is_set()
    log = served.log()
    # The worker saw the caller, and logs the number masked (redaction.mask_number).
    assert "teler call teler-" in log and f"from {mask_number('+15550042')} " in log
    assert f"{path.split()[0]} to worker w0" in log
    assert "+15550042" not in log
    await eventually(
        "the hung-up call frees its slot",
        lambda: served.get("readyz").status_code == 200,
        served.log,
    )
    assert served.metric("voicebot_call_ends_total") == 1


async def test_a_worker_without_its_handoff_socket_gets_the_call_relayed(
    serve: Callable[..., Served],
) -> None:
    """Where the socket cannot be handed over (here: the worker's handoff socket is gone),
    the call is relayed, not lost, and the log says why once."""
    from pathlib import Path

    from tests.phone.driver import converse
    from tests.phone.peers import TelerPeer
    from tests.serving.conftest import eventually

    served = serve(str(FAKE_BOT), "--workers", "1")
    pid = next(w["pid"] for w in served.status()["workers"] if w["pid"])
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    handoff = Path(args[args.index(b"--socket") + 1].decode() + ".handoff")
    await eventually("the worker's handoff socket", handoff.exists, served.log)
    handoff.unlink()
    flow = httpx.post(f"{served.url}phone/teler", json={"from": "+15550042"})
    heard = await converse(flow.json()["ws_url"], TelerPeer())
    assert not heard.errors, heard.errors
    assert heard.first_audio.is_set()
    log = served.log()
    assert "relayed to worker w0" in log and "a phone call is relayed through the supervisor" in log
