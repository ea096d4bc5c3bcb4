"""Telnyx (Ed25519) and Plivo (V3 HMAC) webhook signatures: good ones pass; missing, bad and
stale ones are refused; an unset secret checks nothing; and through a real ``voicebot serve``,
a refused webhook is a 403 logged without its payload.

Keys are made here (an Ed25519 pair, an HMAC token). Plivo's signature is also compared with
the Plivo SDK's own functions when its wheel is installed in ``PLIVO_SDK_DIR`` (not a
dependency: ``pip install --no-deps --target /tmp/plivo/site plivo==4.63.0 six decorator
lxml``), and with a vector computed once with that SDK otherwise.
"""

from __future__ import annotations

import base64
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from loguru import logger
from starlette.requests import Request

from tests.serving.conftest import FAKE_BOT, Served
from voicebot.server.webhook_signatures import (
    TELNYX_TOLERANCE_SECS,
    plivo_signature,
    plivo_signature_ok,
    telnyx_signature_ok,
    webhook_signature_ok,
)

ed25519 = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")

PLIVO_SDK_DIR = Path(os.environ.get("PLIVO_SDK_DIR", "/tmp/plivo/site"))
PLIVO_TOKEN = "plivo-auth-token-for-tests-0001"
PLIVO_URL = "https://bots.example/phone/plivo"
NOW = 1_750_000_000.0


class TelnyxSigner:
    """What Telnyx does: sign ``"{timestamp}|{body}"`` with the account's private key."""

    def __init__(self) -> None:
        self.private = ed25519.Ed25519PrivateKey.generate()
        raw = self.private.public_key().public_bytes_raw()
        self.public_key = base64.b64encode(raw).decode()

    def headers(self, body: bytes, timestamp: float = NOW) -> dict[str, str]:
        stamp = str(int(timestamp))
        signature = self.private.sign(stamp.encode() + b"|" + body)
        return {
            "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
            "telnyx-timestamp": stamp,
        }


@pytest.fixture
def errors() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m.record["message"]), level="ERROR")
    yield lines
    logger.remove(sink)


# ---- Telnyx ----------------------------------------------------------------------------------

BODY = b'{"data":{"event_type":"call.initiated","payload":{"from":"+15550007"}}}'


def test_telnyx_accepts_its_signature_of_the_timestamp_and_the_raw_body() -> None:
    signer = TelnyxSigner()
    assert telnyx_signature_ok(signer.public_key, signer.headers(BODY), BODY, NOW)
    # Within the tolerance either way (Telnyx's clock and ours differ a little).
    early = signer.headers(BODY, NOW - TELNYX_TOLERANCE_SECS)
    assert telnyx_signature_ok(signer.public_key, early, BODY, NOW)


@pytest.mark.parametrize(
    "case",
    ["missing", "no timestamp", "other body", "other key", "garbage", "stale", "future", "moved"],
)
def test_telnyx_refuses_missing_bad_and_stale_signatures(case: str) -> None:
    signer = TelnyxSigner()
    headers = signer.headers(BODY)
    body, key = BODY, signer.public_key
    if case == "missing":
        headers = {"telnyx-timestamp": headers["telnyx-timestamp"]}
    elif case == "no timestamp":
        del headers["telnyx-timestamp"]
    elif case == "other body":
        body = BODY.replace(b"+15550007", b"+15550008")
    elif case == "other key":
        key = TelnyxSigner().public_key
    elif case == "garbage":
        headers["telnyx-signature-ed25519"] = "not base64!"
    elif case == "stale":  # a replay of a webhook signed over five minutes ago
        headers = signer.headers(BODY, NOW - TELNYX_TOLERANCE_SECS - 1)
    elif case == "future":
        headers = signer.headers(BODY, NOW + TELNYX_TOLERANCE_SECS + 1)
    elif case == "moved":  # the signature is fresh, the timestamp swapped for another
        headers["telnyx-timestamp"] = str(int(NOW) - 1)
    assert not telnyx_signature_ok(key, headers, body, NOW)


def test_a_telnyx_public_key_that_is_not_one_refuses_and_says_so(errors: list[str]) -> None:
    signer = TelnyxSigner()
    assert not telnyx_signature_ok("bm90IGEga2V5", signer.headers(BODY), BODY, NOW)
    assert errors == ["TELNYX_PUBLIC_KEY is not a base64 Ed25519 public key (32 bytes)"]


# ---- Plivo -----------------------------------------------------------------------------------

FORM = {"CallUUID": ["c-1"], "From": ["+15550009"], "To": ["+15550100"], "Direction": ["inbound"]}


def plivo_headers(signature: str, nonce: str = "93847561") -> dict[str, str]:
    return {"x-plivo-signature-v3": signature, "x-plivo-signature-v3-nonce": nonce}


def test_plivo_signature_is_the_sdks() -> None:
    """The same signature as plivo 4.63.0's ``validate_v3_signature`` accepts: query sorted
    before the params, repeated values, encoded characters, and no params at all."""
    if not (PLIVO_SDK_DIR / "plivo" / "utils" / "signature_v3.py").is_file():
        pytest.skip(f"the Plivo SDK is not installed in {PLIVO_SDK_DIR} (see the module doc)")
    saved = list(sys.path)
    sys.path.append(str(PLIVO_SDK_DIR))  # after the venv: only what the venv lacks
    try:
        from plivo.utils.signature_v3 import validate_v3_signature
    finally:
        sys.path[:] = saved
    cases = [
        (PLIVO_URL, FORM),
        (PLIVO_URL, {}),
        (f"{PLIVO_URL}?b=2&a=x%20y&a=1", {"From": ["+1 555"], "X": ["2", "1"], "Empty": [""]}),
        ("http://127.0.0.1:8765/phone/plivo?ticket=", {"k": ["v"]}),
    ]
    for url, params in cases:
        signature = plivo_signature(PLIVO_TOKEN, url, params, "12345")
        sdk_params = {k: v if len(v) > 1 else v[0] for k, v in params.items()}
        assert validate_v3_signature("POST", url, "12345", PLIVO_TOKEN, signature, sdk_params), url


def test_plivo_signature_matches_a_vector_from_the_sdk() -> None:
    """Computed with plivo 4.63.0: ``get_signature_v3(token, construct_post_url(url,
    params), nonce)`` for PLIVO_TOKEN, f"{PLIVO_URL}?a=1", FORM and nonce 93847561."""
    signature = plivo_signature(PLIVO_TOKEN, f"{PLIVO_URL}?a=1", FORM, "93847561")
    assert signature == "TkNtHUIRZlPezZE9VnY7oCTegR+BgpVIPAgozMg5ksg="


def test_plivo_accepts_any_of_several_signatures_and_refuses_the_rest() -> None:
    good = plivo_signature(PLIVO_TOKEN, PLIVO_URL, FORM, "93847561")
    assert plivo_signature_ok(PLIVO_TOKEN, PLIVO_URL, FORM, plivo_headers(good))
    # Plivo sends one signature per auth token (main account, subaccount) comma-separated.
    assert plivo_signature_ok(PLIVO_TOKEN, PLIVO_URL, FORM, plivo_headers(f"AAAA,{good}"))
    refused = [
        plivo_headers(""),  # missing
        {"x-plivo-signature-v3": good},  # no nonce
        plivo_headers(good, nonce="11111111"),  # the nonce is signed
        plivo_headers(good.replace(good[:4], "AAAA")),  # bad
        plivo_headers(plivo_signature("another-token-0002", PLIVO_URL, FORM, "93847561")),
    ]
    for headers in refused:
        assert not plivo_signature_ok(PLIVO_TOKEN, PLIVO_URL, FORM, headers), headers
    tampered = {**FORM, "From": ["+15550666"]}
    assert not plivo_signature_ok(PLIVO_TOKEN, PLIVO_URL, tampered, plivo_headers(good))
    elsewhere = PLIVO_URL.replace("bots.", "evil.")
    assert not plivo_signature_ok(PLIVO_TOKEN, elsewhere, FORM, plivo_headers(good))


# ---- the gateway's check, per carrier ----------------------------------------------------------


def webhook_request(carrier: str, body: bytes, headers: dict[str, str]) -> Request:
    """A ``POST /phone/{carrier}`` as the route sees it, behind a TLS proxy for bots.example."""
    sent = {
        "host": "bots.example",
        "x-forwarded-proto": "https",
        "content-type": "application/x-www-form-urlencoded",
        **headers,
    }
    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "server": ("127.0.0.1", 7860),
        "path": f"/phone/{carrier}",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in sent.items()],
    }
    return Request(scope)


def test_each_carrier_is_checked_only_when_its_secret_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("TWILIO_AUTH_TOKEN", "TELNYX_PUBLIC_KEY", "PLIVO_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    form = {"From": "+15550009"}
    body = urlencode(form).encode()
    for carrier in ("twilio", "telnyx", "plivo", "teler"):
        assert webhook_signature_ok(carrier, webhook_request(carrier, body, {}), body, form)

    signer = TelnyxSigner()
    monkeypatch.setenv("TELNYX_PUBLIC_KEY", signer.public_key)
    monkeypatch.setenv("PLIVO_AUTH_TOKEN", PLIVO_TOKEN)
    signed = signer.headers(body, time.time())
    assert webhook_signature_ok("telnyx", webhook_request("telnyx", body, signed), body, form)
    assert not webhook_signature_ok("telnyx", webhook_request("telnyx", body, {}), body, form)
    # Header names are case-insensitive, and the URL is the one the carrier called (https).
    sig = plivo_signature(PLIVO_TOKEN, PLIVO_URL, {"From": ["+15550009"]}, "42424242")
    headers = {"X-Plivo-Signature-V3": sig, "X-Plivo-Signature-V3-Nonce": "42424242"}
    assert webhook_signature_ok("plivo", webhook_request("plivo", body, headers), body, form)
    assert not webhook_signature_ok("plivo", webhook_request("plivo", body, {}), body, form)
    assert webhook_signature_ok("teler", webhook_request("teler", body, {}), body, form)


# ---- through voicebot serve --------------------------------------------------------------------


def test_serve_refuses_unsigned_telnyx_and_plivo_webhooks_and_takes_signed_ones(
    serve: Callable[..., Served],
) -> None:
    signer = TelnyxSigner()
    env = {"TELNYX_PUBLIC_KEY": signer.public_key, "PLIVO_AUTH_TOKEN": PLIVO_TOKEN}
    served = serve(str(FAKE_BOT), "--workers", "1", env=env)
    form = {"From": "+15550777", "To": "+15550100"}
    body = urlencode(form).encode()
    kind = {"content-type": "application/x-www-form-urlencoded"}

    telnyx = f"{served.url}phone/telnyx"
    assert httpx.post(telnyx, content=body, headers=kind).status_code == 403
    stale = signer.headers(body, time.time() - TELNYX_TOLERANCE_SECS - 60)
    assert httpx.post(telnyx, content=body, headers={**kind, **stale}).status_code == 403
    fresh = signer.headers(body, time.time())
    answer = httpx.post(telnyx, content=body, headers={**kind, **fresh})
    assert answer.status_code == 200 and "<Stream" in answer.text, answer.text

    plivo = f"{served.url}phone/plivo"
    nonce = "31415926"
    forged = {**kind, **plivo_headers("AAAA", nonce)}
    assert httpx.post(plivo, content=body, headers=forged).status_code == 403
    params = {k: [v] for k, v in form.items()}
    signed = {**kind, **plivo_headers(plivo_signature(PLIVO_TOKEN, plivo, params, nonce), nonce)}
    answer = httpx.post(plivo, content=body, headers=signed)
    # Taken: the one line is held by the Telnyx call's ticket, so Plivo is told to say so.
    assert answer.status_code == 200 and "<Speak>" in answer.text, answer.text

    log = served.log()
    assert len(re.findall(r"a telnyx webhook with a bad signature was refused", log)) == 2
    assert len(re.findall(r"a plivo webhook with a bad signature was refused", log)) == 1
    assert "+15550777" not in log  # refused (and accepted) payloads are not logged
