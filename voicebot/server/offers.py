"""What the playground accepts from a browser, checked before anything is built.

Every new peer connection costs a full bot session (~20 MB, models' per-call state, kept
until the peer connects or Pipecat gives up on it after 60 s), so a POST that is not a real
WebRTC offer, or a PATCH that is not a list of ICE candidates, is answered 4xx here and never
reaches Pipecat's request handler. Real offers from a browser (Chromium, Firefox: 3-10 kB)
pass. A well-formed offer is cheap to forge, so ``OfferLimits`` also caps the live sessions
(503) and how often one client may start one (429).
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Request

#: The largest request body read (bytes). A browser's offer with every candidate is ~10 kB.
MAX_BODY_BYTES = 64 * 1024
#: The most ICE candidates one PATCH may carry (a browser sends a handful at a time).
MAX_CANDIDATES = 64

#: Sessions running at once, by default: each holds ~20 MB and a share of two cores.
MAX_SESSIONS = 8
#: New sessions one client (IP address) may start per ``RATE_WINDOW_SECS``, by default.
OFFERS_PER_CLIENT = 5
RATE_WINDOW_SECS = 10.0

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
    except RecursionError:  # e.g. 60 kB of "[": the parser recurses once per bracket
        raise HTTPException(400, "the body is not JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise HTTPException(400, "the body must be a JSON object")
    return data


def client_of(request: Request) -> str:
    """The client's IP address: what ``OfferLimits`` counts new sessions by."""
    return request.client.host if request.client else "unknown"


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


class OfferLimits:
    """How many sessions may run at once and how often one client may start one.

    ``admit`` is called for each offer that would build a session: it raises a 503 when
    ``max_sessions`` are running or starting, a 429 when the client started
    ``per_client`` sessions in the last ``window_secs``. Clients are told apart by IP
    address, so behind a reverse proxy every browser counts as the proxy. ``clock`` is
    injectable so tests need not wait out the window.
    """

    def __init__(
        self,
        max_sessions: int = MAX_SESSIONS,
        *,
        per_client: int = OFFERS_PER_CLIENT,
        window_secs: float = RATE_WINDOW_SECS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_sessions < 1 or per_client < 1 or window_secs <= 0:
            raise ValueError("max_sessions and per_client must be >= 1, window_secs > 0")
        self.max_sessions = max_sessions
        self.per_client = per_client
        self.window_secs = window_secs
        self.clock = clock
        self._recent: dict[str, deque[float]] = {}

    def admit(self, client: str, running: int) -> None:
        """Count one new session for ``client`` with ``running`` sessions live, or refuse."""
        now = self.clock()
        self._forget_before(now - self.window_secs)
        if running >= self.max_sessions:
            raise HTTPException(
                503,
                f"the playground is full ({self.max_sessions} sessions running); "
                "try again when one has ended",
                headers={"Retry-After": "10"},
            )
        recent = self._recent.setdefault(client, deque())
        if len(recent) >= self.per_client:
            wait = max(1, math.ceil(recent[0] + self.window_secs - now))
            raise HTTPException(
                429,
                f"too many new sessions from {client}: at most {self.per_client} per "
                f"{self.window_secs:g} s; try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        recent.append(now)

    def _forget_before(self, cutoff: float) -> None:
        """Drop timestamps older than the window, and clients left with none (so the table
        does not grow with every address ever seen)."""
        for client in list(self._recent):
            recent = self._recent[client]
            while recent and recent[0] <= cutoff:
                recent.popleft()
            if not recent:
                del self._recent[client]
