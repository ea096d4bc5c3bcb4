"""What the playground accepts from a browser, checked before anything is built.

Every new peer connection costs a full bot session (~20 MB, models' per-call state), so a
POST that is not a real WebRTC offer, or a PATCH that is not a list of ICE candidates, is
answered 4xx here and never reaches Pipecat's request handler. Real offers from a browser
(Chromium, Firefox: 3-10 kB) pass.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException, Request

#: The largest request body read (bytes). A browser's offer with every candidate is ~10 kB.
MAX_BODY_BYTES = 64 * 1024
#: The most ICE candidates one PATCH may carry (a browser sends a handful at a time).
MAX_CANDIDATES = 64

#: Keys of an offer passed on to Pipecat's ``SmallWebRTCRequest``.
OFFER_FIELDS = ("sdp", "type", "pc_id", "restart_pc", "request_data", "requestData")


async def read_json(request: Request) -> dict[str, Any]:
    """The request's JSON object, read up to ``MAX_BODY_BYTES``: 413 beyond, 400 if it is
    not a JSON object."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, f"the body is over {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise HTTPException(400, f"the body is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise HTTPException(400, "the body must be a JSON object")
    return data


def check_offer(body: dict[str, Any]) -> dict[str, Any]:
    """The offer's fields for ``SmallWebRTCRequest``, or a 400 saying what is wrong: an SDP
    offer with an audio section, ICE credentials and a DTLS fingerprint."""
    from aiortc.sdp import SessionDescription

    sdp, kind = body.get("sdp"), body.get("type")
    if not isinstance(sdp, str) or not isinstance(kind, str):
        raise HTTPException(400, "an offer is JSON with 'sdp' and 'type' strings")
    if kind != "offer":
        raise HTTPException(400, f"'type' must be 'offer', not {kind[:20]!r}")
    pc_id = body.get("pc_id")
    if pc_id is not None and not isinstance(pc_id, str):
        raise HTTPException(400, "'pc_id' must be a string")
    if not isinstance(body.get("restart_pc", False), (bool, type(None))):
        raise HTTPException(400, "'restart_pc' must be true or false")
    if not sdp.startswith("v=0"):
        raise HTTPException(400, "'sdp' is not a session description (it must start with v=0)")
    try:
        parsed = SessionDescription.parse(sdp)
    except Exception as e:  # aiortc raises whatever its parser hits on bad input
        raise HTTPException(400, f"'sdp' does not parse: {type(e).__name__}") from None
    audio = [m for m in parsed.media if m.kind == "audio"]
    if not audio:
        raise HTTPException(400, "the offer has no audio section (m=audio): nothing to talk over")
    for media in audio:
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise HTTPException(400, "the offer's audio section has no ICE ufrag/pwd")
        if media.dtls is None or not media.dtls.fingerprints:
            raise HTTPException(400, "the offer's audio section has no DTLS fingerprint")
    return {k: v for k, v in body.items() if k in OFFER_FIELDS}


def check_candidates(body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The PATCH's peer connection id and candidates, each checked to parse, or a 400.

    A candidate is ``{"candidate": "candidate:...", "sdp_mid": str, "sdp_mline_index":
    int}`` (``sdpMid``/``sdpMLineIndex`` as the browser names them are accepted too); an
    empty ``candidate`` is the end-of-candidates marker."""
    from aiortc.sdp import candidate_from_sdp

    pc_id = body.get("pc_id")
    if not isinstance(pc_id, str) or not pc_id:
        raise HTTPException(400, "a candidates request needs 'pc_id', a string")
    items = body.get("candidates", [])
    if not isinstance(items, list):
        raise HTTPException(400, "'candidates' must be a list")
    if len(items) > MAX_CANDIDATES:
        raise HTTPException(400, f"at most {MAX_CANDIDATES} candidates per request")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise HTTPException(400, f"candidates[{i}] must be an object")
        line = item.get("candidate") or ""
        mid = item.get("sdp_mid", item.get("sdpMid"))
        index = item.get("sdp_mline_index", item.get("sdpMLineIndex"))
        if not isinstance(line, str) or not isinstance(mid, (str, type(None))):
            raise HTTPException(400, f"candidates[{i}]: 'candidate' and 'sdp_mid' are strings")
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
            raise HTTPException(400, f"candidates[{i}]: 'sdp_mline_index' is an integer")
        if line:
            try:
                candidate_from_sdp(line)  # what Pipecat's handler will parse it with
            except Exception:  # AssertionError, IndexError or ValueError on a bad line
                raise HTTPException(400, f"candidates[{i}] is not an ICE candidate") from None
        out.append({"candidate": line, "sdp_mid": mid, "sdp_mline_index": index})
    return pc_id, out
