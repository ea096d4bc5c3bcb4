"""Warm transfer on a Twilio call, against a fake of Twilio's REST API and a Media Streams
caller (tests/phone/twilio_fakes.py): the caller asks for a person, the model calls
``transfer_call``, the bot says its line, the live call is updated with ``<Dial>``, the
handoff package reaches ``on_handoff``, and ending the session does not hang up the call
it handed on. A refused transfer leaves the bot on the line. Then the checks that refuse a
transfer before anything is said."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from tests.phone.conftest import TURN_1, Worker
from tests.phone.twilio_fakes import ACCOUNT, TOKEN, FakeTwilioAPI, TwilioCaller, served_worker
from voicebot import Bot, EnergyVAD, SilenceTurn
from voicebot.errors import ConfigError
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, ToolCall
from voicebot.tools.builtin import end_call, transfer_call_tool
from voicebot.transports.phone import PhoneCall, Telnyx, Twilio
from voicebot.transports.transfer import TransferError, parse_target, transfer, with_headers

HUMAN = "+15557654321"
LINE = "Please hold while I put you through."
REASON = "Wants to move Tuesday's appointment."
HANDOFFS: list[dict[str, Any]] = []


@pytest.fixture(scope="module")
def api() -> Iterator[FakeTwilioAPI]:
    with FakeTwilioAPI() as fake:
        yield fake


@pytest.fixture(scope="module")
def worker(api: FakeTwilioAPI) -> Iterator[Worker]:
    bot = Bot(
        stt=FakeSTT(transcripts=["Can I talk to a person, please?"], latency_secs=0.05),
        llm=FakeLLM(
            replies=[
                ToolCall("transfer_call", {"reason": REASON}),
                ToolCall("end_call", {}),  # after a refused transfer: goodbye, hang up
            ],
            ttft_secs=0.05,
        ),
        tts=FakeTTS(ttfb_secs=0.05),
        vad=EnergyVAD(),
        turn=SilenceTurn(silence_secs=0.4),
        transport=Twilio(account_sid=ACCOUNT, auth_token=TOKEN, api_base=api.url),
        tools=[transfer_call_tool(to=HUMAN, say=LINE, on_handoff=HANDOFFS.append), end_call],
    )
    with served_worker(bot) as served:
        yield served


@pytest.mark.real_time
async def test_the_model_transfers_a_twilio_call_with_the_handoff_package(
    api: FakeTwilioAPI, worker: Worker
) -> None:
    caller = TwilioCaller()
    call_id = f"test-transfer-{uuid.uuid4().hex[:8]}"
    HANDOFFS.clear()
    # The caller streams until the bot closes the socket (Twilio would also stop the stream on
    # the update; waiting for the bot's own end shows that it does not hang up over REST).
    await caller.call(worker.ws(f"/phone/ws/twilio?call_id={call_id}"), TURN_1, lambda: False)
    assert caller.closed_by_bot
    updates = api.updates(caller.call_sid)
    assert [u.form for u in updates] == [
        {"Twiml": f"<Response><Dial><Number>{HUMAN}</Number></Dial></Response>"}
    ], "one <Dial> update, and no REST hang-up of the call it handed on"
    # The bot said its line first: the caller had its audio before Twilio was asked to dial.
    spoken = [
        at for at, pcm in zip(caller.audio_at, caller.audio, strict=True) if abs(pcm).max() > 300
    ]
    assert spoken, "the bot said nothing before the transfer"
    assert spoken[-1] < updates[0].at
    package = HANDOFFS[-1]
    assert package["transfer"]["to"] == HUMAN
    assert package["transfer"]["reason"] == REASON
    assert package["transfer"]["caller"] == "+15550001111"
    assert package["transfer"]["carrier_call_id"] == caller.call_sid
    assert {"role": "user", "text": "Can I talk to a person, please?"} in package["transcript"]
    worker.wait_for(lambda: call_id not in worker.calls(), "ended after the transfer")
    await asyncio.sleep(0)  # nothing more may come: the session is over
    assert api.updates(caller.call_sid) == updates


@pytest.mark.real_time
async def test_a_transfer_twilio_refuses_leaves_the_bot_on_the_line(
    api: FakeTwilioAPI, worker: Worker
) -> None:
    caller = TwilioCaller()
    api.fail[caller.call_sid] = (404, 20404, "The requested resource was not found")
    call_id = f"test-transfer-refused-{uuid.uuid4().hex[:8]}"
    # The model is told the transfer failed, then says goodbye and hangs up (end_call):
    # the caller streams until the bot closes the socket.
    await caller.call(worker.ws(f"/phone/ws/twilio?call_id={call_id}"), TURN_1, lambda: False)
    assert caller.closed_by_bot
    session = worker.session(call_id)
    calls = [c for t in session.turns for c in t.tool_calls]
    assert [c.name for c in calls][:1] == ["transfer_call"]
    assert calls[0].result["transferred"] is False
    assert "HTTP 404" in calls[0].result["error"] and "20404" in calls[0].result["error"]
    worker.wait_for(lambda: call_id not in worker.calls(), "ended after the bot hung up")
    forms = [u.form for u in api.updates(caller.call_sid)]
    # The refused <Dial>, then, since nobody else has the call, the bot's REST hang-up.
    assert forms[0]["Twiml"].startswith("<Response><Dial>")
    assert forms[1:] == [{"Status": "completed"}]


# ---- refused before anything is said -------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    ["555-1234", "+0123456789", "sip:pbx.example.com", "tel:+15551234567", "", "sip:a b@x"],
)
def test_a_target_that_is_neither_a_number_nor_a_sip_uri_is_refused(target: str) -> None:
    with pytest.raises(TransferError, match=r"E\.164|SIP URI"):
        parse_target(target)
    with pytest.raises(ConfigError):
        transfer_call_tool(to=target)


def test_targets_are_normalised_and_sip_headers_carry_the_session() -> None:
    assert parse_target("+1 (555) 765-4321").uri == "+15557654321"
    assert parse_target("sip:agent@pbx.example.com:5070").kind == "sip"
    package = {"session_id": "abc", "transfer": {"reason": "Needs a refund & a receipt"}}
    assert with_headers("sip:agent@pbx", package) == (
        "sip:agent@pbx?X-Voicebot-Session=abc&X-Voicebot-Reason=Needs%20a%20refund%20%26%20a%20receipt"
    )


def _session(provider: Any, transport: Any = None) -> Any:
    """Just enough of a session for the checks made before anything is said."""
    bot = Bot(stt=FakeSTT(), llm=FakeLLM(), tts=FakeTTS(), vad=EnergyVAD(), turn=SilenceTurn())
    return SimpleNamespace(transport_provider=provider, transport=transport, bot=bot)


async def test_carriers_without_a_transfer_path_are_named() -> None:
    telnyx = Telnyx().model_copy(update={"call": PhoneCall("telnyx", call_id="v3:abc")})
    with pytest.raises(TransferError, match=r"cannot transfer a telnyx call: .*Call Control"):
        await transfer(_session(telnyx), HUMAN)
    with pytest.raises(TransferError, match="this session is not a phone call"):
        await transfer(_session(provider=SimpleNamespace()), HUMAN)


async def test_a_twilio_call_without_rest_credentials_cannot_be_transferred(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_KEY", "TWILIO_API_SECRET"):
        monkeypatch.delenv(name, raising=False)
    twilio = Twilio().model_copy(update={"call": PhoneCall("twilio", call_id="CA1")})
    with pytest.raises(TransferError, match="needs Twilio's REST credentials: pass Twilio"):
        await transfer(_session(twilio), HUMAN)
    off = Twilio(rest_hang_up=False).model_copy(update={"call": PhoneCall("twilio", call_id="CA1")})
    with pytest.raises(TransferError, match=r"rest_hang_up=False\) turns its REST API off"):
        await transfer(_session(off), HUMAN)


async def test_a_number_on_a_sip_call_straight_to_the_bot_needs_a_sip_uri() -> None:
    from voicebot.transports.sip import SIP
    from voicebot.transports.sip.line import CallInfo, LineConfig

    info = CallInfo("c1", "sip:caller@10.0.0.9", "sip:bot@127.0.0.1:5062", "PCMU")
    line = SimpleNamespace(config=LineConfig(host="127.0.0.1", port=5062), call_info=info)
    session = _session(SIP(host="127.0.0.1", port=5062), SimpleNamespace(line=line))
    with pytest.raises(TransferError, match="came straight to the bot: transfer to a SIP URI"):
        await transfer(session, HUMAN)
    with pytest.raises(TransferError, match="caller_id is for Twilio"):
        await transfer(session, "sip:desk@pbx.example.com", caller_id=HUMAN)
