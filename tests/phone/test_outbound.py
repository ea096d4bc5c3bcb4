"""Outbound calls: ``await bot.call(to=..., from_=...)`` against a fake of Twilio's REST API
(tests/phone/twilio_fakes.py) and a real ``voicebot serve``.

End to end: the fake takes ``calls.create``, "answers" by posting the call's Url (the served
supervisor's own Twilio webhook, signed), gets the ``<Connect><Stream>`` with a one-time
ticket, and the external simulator streamdouble calls that stream URL with the TwiML's
parameters: the bot answers, and the person called is the call's ``from_number`` (whose
memory). Then the clear errors: bad numbers, no server URL, no credentials, a server that
is not there or full, a refused key.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamdouble import api as streamdouble
from streamdouble import g711
from streamdouble.audio import frame_ulaw
from streamdouble.scenario import Hangup, Say, Scenario, WaitFor
from streamdouble.session import SessionConfig

from tests.conftest import load_example
from tests.phone.conftest import TURN_1, frames
from tests.phone.twilio_fakes import ACCOUNT, TOKEN, FakeTwilioAPI
from tests.serving.conftest import FAKE_BOT, Served, serve  # noqa: F401  (the fixture)
from tests.sip.baresip_peer import free_port
from voicebot.redaction import mask_number
from voicebot.server.outbound import OutboundCallError
from voicebot.transports.carrier_rest import CallControlError
from voicebot.transports.phone import Twilio

CALLEE = "+15550102030"
OURS = "+15559870000"


@pytest.fixture(scope="module")
def api() -> Iterator[FakeTwilioAPI]:
    with FakeTwilioAPI() as fake:
        yield fake


def _bot(api: FakeTwilioAPI, **twilio: Any) -> Any:
    creds: dict[str, Any] = {"account_sid": ACCOUNT, "auth_token": TOKEN, "api_base": api.url}
    return load_example("fake_bot.py", "outbound_fake_bot").bot.replace(
        transport=Twilio(**{**creds, **twilio})
    )


@pytest.mark.real_time
async def test_an_outbound_call_streams_into_the_served_bot(
    api: FakeTwilioAPI,
    serve: Callable[..., Served],  # noqa: F811  (the fixture imported above)
) -> None:
    # The supervisor checks X-Twilio-Signature with this token, as in production.
    served = serve(str(FAKE_BOT), "--workers", "1", env={"TWILIO_AUTH_TOKEN": TOKEN})
    assert served.url is not None
    placed = await _bot(api).call(to=CALLEE, from_=OURS, server_url=served.url, timeout=25)
    created = next(r for r in api.requests if r.path.endswith("/Calls.json"))
    assert created.form == {
        "To": CALLEE,
        "From": OURS,
        "Url": f"{served.url}phone/twilio",
        "Method": "POST",
        "Timeout": "25",
    }
    assert placed.call_id.startswith("CA") and placed.answer_url == created.form["Url"]
    api.wait("answered", lambda: bool(api.answered))
    answered = api.answered[0]
    assert answered.webhook_status == 200, answered.twiml
    assert answered.stream_url is not None, answered.twiml
    assert re.fullmatch(r"ws://127\.0\.0\.1:\d+/phone/ws/twilio/[\w-]{20,}", answered.stream_url)
    # The person called is the one the bot talks to: their number is the call's from_number.
    assert answered.parameters == {"from_number": CALLEE, "to_number": OURS}

    speech = frame_ulaw(g711.encode(np.concatenate(frames(TURN_1))))
    report = await streamdouble.run_scenario(
        answered.stream_url,
        Scenario(
            name="answer an outbound call",
            steps=[Say(Path("turn1"), speech), WaitFor("audio", timeout_s=60), Hangup()],
        ),
        config=SessionConfig(
            response_timeout_s=60,
            max_call_s=120,
            max_drain_s=15,
            custom_parameters=answered.parameters,
        ),
    )
    assert report.violations == []
    assert report.spoke, "the bot never answered the outbound call"
    # Logged with the number masked (voicebot.redaction.mask_number), never in full.
    logged = f"from {mask_number(CALLEE)} answered"
    served.wait_for("the call is logged", lambda: logged in served.log())
    assert CALLEE not in served.log()


# ---- refused before anything rings ---------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "from_", "problem"),
    [
        ("555-0102", OURS, "to '555-0102' is not a phone number in E.164 form"),
        (CALLEE, "+1", "from_ '+1' is not a phone number in E.164 form"),
        (CALLEE, CALLEE, "to and from_ are the same number"),
    ],
)
async def test_bad_numbers_are_refused(
    api: FakeTwilioAPI, to: str, from_: str, problem: str
) -> None:
    before = len(api.requests)
    with pytest.raises(CallControlError, match=re.escape(problem)):
        await _bot(api).call(to=to, from_=from_, server_url="http://127.0.0.1:9")
    assert len(api.requests) == before


async def test_no_server_url_no_credentials_and_other_carriers_are_named(
    api: FakeTwilioAPI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("VOICEBOT_PUBLIC_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(OutboundCallError, match=r"pass server_url=.* or set VOICEBOT_PUBLIC_URL"):
        await _bot(api).call(to=CALLEE, from_=OURS)
    with pytest.raises(OutboundCallError, match="is not a base URL"):
        await _bot(api).call(to=CALLEE, from_=OURS, server_url="bot.example.com")
    bare = load_example("fake_bot.py", "outbound_bare_bot").bot
    with pytest.raises(CallControlError, match="needs Twilio's REST credentials"):
        await bare.call(to=CALLEE, from_=OURS, server_url="https://bot.example.com")
    with pytest.raises(OutboundCallError, match="through Twilio's REST API for now, not 'plivo'"):
        await _bot(api).call(to=CALLEE, from_=OURS, server_url="http://x", carrier="plivo")


async def test_a_server_that_is_not_there_is_named_before_anything_rings(
    api: FakeTwilioAPI,
) -> None:
    before = len(api.requests)
    nobody = f"http://127.0.0.1:{free_port(socket.SOCK_STREAM)}"
    with pytest.raises(OutboundCallError, match=r"could not be reached .* is `voicebot serve`"):
        await _bot(api).call(to=CALLEE, from_=OURS, server_url=nobody)
    assert len(api.requests) == before


async def test_a_refused_key_is_one_line_naming_the_fix(api: FakeTwilioAPI) -> None:
    bot = _bot(api, auth_token="not-the-token")
    with pytest.raises(CallControlError) as refused:
        await bot.call(to=CALLEE, from_=OURS, server_url="http://x", check_server=False)
    message = str(refused.value)
    assert message.startswith("Twilio refused placing a call to +15550102030: HTTP 401")
    assert "20003" in message and "TWILIO_AUTH_TOKEN" in message and "\n" not in message
