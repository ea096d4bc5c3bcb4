"""Carrier webhook signatures for ``POST /phone/{carrier}``: a webhook reserves a warm worker,
so one that anybody could forge would let anybody hold every line.

Each carrier is checked when its secret is in the supervisor's environment, and passes
unchecked when it is not (nothing to check against):

- **Twilio**: ``X-Twilio-Signature`` over the URL and the form, with the ``twilio`` SDK;
  secret ``TWILIO_AUTH_TOKEN``.
- **Telnyx**: ``telnyx-signature-ed25519`` (base64 Ed25519) over ``"{telnyx-timestamp}|{raw
  body}"``, with the account's public key ``TELNYX_PUBLIC_KEY`` (base64, from the Telnyx
  portal); a timestamp more than ``TELNYX_TOLERANCE_SECS`` away from now is refused (a replay).
  As ``telnyx.lib.webhook_verification`` does it, with ``cryptography`` instead of PyNaCl.
- **Plivo**: ``X-Plivo-Signature-V3`` (one or several, comma-separated) = base64 HMAC-SHA256
  with ``PLIVO_AUTH_TOKEN`` over ``"{url with sorted query and POST params}.{nonce}"``, the
  nonce from ``X-Plivo-Signature-V3-Nonce``. As ``plivo.utils.signature_v3`` does it.

The URL a signature covers is the one the carrier called: this server as the request
reached it, after a TLS-terminating proxy (``X-Forwarded-Proto``/``-Host``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qs, urlparse, urlunparse

from fastapi import Request
from loguru import logger

#: Telnyx's SDK refuses a webhook whose timestamp is further than this from now.
TELNYX_TOLERANCE_SECS = 300
TELNYX_SIGNATURE = "telnyx-signature-ed25519"
TELNYX_TIMESTAMP = "telnyx-timestamp"
PLIVO_SIGNATURE = "x-plivo-signature-v3"
PLIVO_NONCE = "x-plivo-signature-v3-nonce"


def webhook_signature_ok(
    carrier: str, request: Request, raw_body: bytes, fields: Mapping[str, str]
) -> bool:
    """Whether the carrier's webhook is signed as its secret says (True when the carrier
    signs nothing here, or its secret is not configured)."""
    if carrier == "twilio":
        token = os.environ.get("TWILIO_AUTH_TOKEN")
        return not token or twilio_signature_ok(
            token, webhook_url(request), fields, request.headers
        )
    if carrier == "telnyx":
        key = os.environ.get("TELNYX_PUBLIC_KEY")
        return not key or telnyx_signature_ok(key, request.headers, raw_body, time.time())
    if carrier == "plivo":
        token = os.environ.get("PLIVO_AUTH_TOKEN")
        if not token:
            return True
        return plivo_signature_ok(
            token, webhook_url(request), plivo_params(request, raw_body, fields), request.headers
        )
    return True


def webhook_url(request: Request) -> str:
    """The URL the carrier called (and signed): scheme and host as a proxy forwarded them."""
    proto = request.headers.get("x-forwarded-proto", request.url.scheme)
    host = request.headers.get("x-forwarded-host") or request.headers.get("host", "")
    url = f"{proto}://{host}{request.url.path}"
    if request.url.query:
        url += f"?{request.url.query}"
    return url


# ---- Twilio ----------------------------------------------------------------------------------


def twilio_signature_ok(
    token: str, url: str, form: Mapping[str, str], headers: Mapping[str, str]
) -> bool:
    """Twilio's ``X-Twilio-Signature`` over ``url`` and ``form``, checked with its SDK."""
    try:
        from twilio.request_validator import RequestValidator
    except ImportError:
        logger.error(
            'TWILIO_AUTH_TOKEN is set but the twilio SDK is missing: pip install "voicebot[phone]"'
        )
        return False
    signature = headers.get("x-twilio-signature", "")
    return bool(RequestValidator(token).validate(url, dict(form), signature))


# ---- Telnyx ----------------------------------------------------------------------------------


def telnyx_signature_ok(
    public_key: str, headers: Mapping[str, str], raw_body: bytes, now: float
) -> bool:
    """Telnyx's Ed25519 signature of ``"{timestamp}|{raw_body}"``, the timestamp within
    ``TELNYX_TOLERANCE_SECS`` of ``now`` (either way, as the SDK checks)."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        logger.error(
            "TELNYX_PUBLIC_KEY is set but cryptography is missing: pip install cryptography"
        )
        return False
    try:
        key_bytes = base64.b64decode(public_key)
    except (binascii.Error, ValueError):
        key_bytes = b""
    if len(key_bytes) != 32:
        logger.error("TELNYX_PUBLIC_KEY is not a base64 Ed25519 public key (32 bytes)")
        return False
    signature_text = headers.get(TELNYX_SIGNATURE, "")
    timestamp = headers.get(TELNYX_TIMESTAMP, "")
    if not signature_text or not timestamp:
        return False
    try:
        stale = abs(int(now) - int(timestamp)) > TELNYX_TOLERANCE_SECS
        signature = base64.b64decode(signature_text)
    except (binascii.Error, ValueError):
        return False
    if stale or len(signature) != 64:
        return False
    signed = timestamp.encode() + b"|" + raw_body
    try:
        Ed25519PublicKey.from_public_bytes(key_bytes).verify(signature, signed)
    except InvalidSignature:
        return False
    return True


# ---- Plivo -----------------------------------------------------------------------------------


def plivo_params(
    request: Request, raw_body: bytes, fields: Mapping[str, str]
) -> dict[str, list[str]]:
    """The POST params Plivo signed, every value of a repeated one (a form body; any other
    body's fields as the route read them)."""
    if "application/x-www-form-urlencoded" in request.headers.get("content-type", ""):
        return parse_qs(raw_body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: [v] for k, v in fields.items()}


def plivo_signed_url(url: str, params: Mapping[str, Sequence[str]]) -> str:
    """The text before ``.{nonce}`` in Plivo's V3 signature of a POST (the SDK's
    ``construct_post_url``): the URL without its query, then ``?`` and the query's pairs
    sorted as ``k=v&...`` (when there is a query or there are params), ``.`` between the
    query and the params (when both), then the params sorted as ``kvkv...``."""
    parts = urlparse(url)
    base = urlunparse((parts.scheme, parts.netloc, parts.path, "", "", ""))
    query = parse_qs(parts.query, keep_blank_values=True)
    query_text = "&".join(f"{k}={v}" for k in sorted(query) for v in sorted(query[k]))
    if query_text or params:
        base += f"?{query_text}"
    if query_text and params:
        base += "."
    return base + "".join(f"{k}{v}" for k in sorted(params) for v in sorted(params[k]))


def plivo_signature(
    auth_token: str, url: str, params: Mapping[str, Sequence[str]], nonce: str
) -> str:
    """Plivo's V3 signature (base64 HMAC-SHA256) of a POST to ``url`` with ``params``."""
    text = f"{plivo_signed_url(url, params)}.{nonce}"
    digest = hmac.new(auth_token.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def plivo_signature_ok(
    auth_token: str, url: str, params: Mapping[str, Sequence[str]], headers: Mapping[str, str]
) -> bool:
    """Whether one of the comma-separated ``X-Plivo-Signature-V3`` values is the signature
    of this POST with its ``X-Plivo-Signature-V3-Nonce`` (compared exactly, as the SDK)."""
    given = headers.get(PLIVO_SIGNATURE, "")
    nonce = headers.get(PLIVO_NONCE, "")
    if not given or not nonce:
        return False
    expected = plivo_signature(auth_token, url, params, nonce).encode("ascii")
    return any(hmac.compare_digest(expected, candidate.encode()) for candidate in given.split(","))
