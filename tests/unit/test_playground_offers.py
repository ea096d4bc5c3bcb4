"""The playground refuses garbage before it builds anything: a POST that is not a real SDP
offer, or a PATCH that is not ICE candidates, is a 4xx with no session and no traceback.

The app runs in-process (Starlette's test client, lifespan included); the one real offer
comes from an aiortc peer connection made here, so nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient

from voicebot import Bot, EnergyVAD, SilenceTurn
from voicebot.server.offers import MAX_BODY_BYTES, OfferLimits
from voicebot.server.playground import Playground, create_app
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS


def fake_bot() -> Bot:
    return Bot(
        stt=FakeSTT(transcripts=["Hello."]),
        llm=FakeLLM(replies=["Hi."]),
        tts=FakeTTS(),
        vad=EnergyVAD(),
        turn=SilenceTurn(),
    )


class Spy:
    """Counts the offers that reach Pipecat's request handler (each builds a session)."""

    def __init__(self, playground: Playground) -> None:
        self.calls = 0
        handler = playground._handler
        original = handler.handle_web_request

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return await original(*args, **kwargs)

        handler.handle_web_request = counted


@contextmanager
def serving(limits: OfferLimits | None = None) -> Iterator[tuple[TestClient, Playground, Spy]]:
    app = create_app(fake_bot(), limits=limits)
    playground: Playground = app.state.playground
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, playground, Spy(playground)


@pytest.fixture
def served() -> Iterator[tuple[TestClient, Playground, Spy]]:
    with serving() as served:
        yield served


async def browser_offer() -> str:
    """A real WebRTC offer with one audio track, as a browser would send."""
    from aiortc import RTCPeerConnection

    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return str(sdp)


GARBAGE_OFFERS = {
    "garbage sdp": {"sdp": "garbage", "type": "offer"},
    "sdp without media": {
        "sdp": "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
        "type": "offer",
    },
    "no sdp": {"type": "offer"},
    "no type": {"sdp": "v=0\r\n"},
    "sdp not a string": {"sdp": 42, "type": "offer"},
    "an answer": {"sdp": "v=0\r\n", "type": "answer"},
    "a list": [1, 2, 3],
}


@pytest.mark.parametrize("body", GARBAGE_OFFERS.values(), ids=GARBAGE_OFFERS.keys())
def test_a_post_that_is_not_an_offer_is_a_400_and_builds_nothing(
    served: tuple[TestClient, Playground, Spy], body: Any
) -> None:
    client, playground, spy = served
    response = client.post("/api/offer", json=body)
    assert response.status_code == 400, response.text
    assert "Traceback" not in response.text
    assert spy.calls == 0 and playground.sessions == {}


def test_a_body_that_is_not_json_or_too_big_is_refused(
    served: tuple[TestClient, Playground, Spy],
) -> None:
    client, playground, spy = served
    not_json = client.post("/api/offer", content=b"{sdp: ", headers={"content-type": "text/plain"})
    assert not_json.status_code == 400
    huge = json.dumps({"sdp": "v=0\r\n" + "a=x\r\n" * MAX_BODY_BYTES, "type": "offer"})
    assert client.post("/api/offer", content=huge).status_code == 413
    # A body with no Content-Length (chunked) is cut off as it is read, too.
    chunks = (b"x" * 4096 for _ in range(MAX_BODY_BYTES // 4096 + 2))
    assert client.post("/api/offer", content=chunks).status_code == 413
    # Nested past the parser's recursion limit, under the size cap: a 400, not a 500.
    deep = client.post("/api/offer", content=b"[" * (MAX_BODY_BYTES - 1000))
    assert deep.status_code == 400 and "nested" in deep.json()["detail"]
    assert spy.calls == 0 and playground.sessions == {}


GARBAGE_PATCHES = {
    "not json": b"nope",
    "no pc_id": json.dumps({"candidates": []}).encode(),
    "candidates not a list": json.dumps({"pc_id": "x", "candidates": "abc"}).encode(),
    "candidate not an object": json.dumps({"pc_id": "x", "candidates": [7]}).encode(),
    "garbage candidate": json.dumps(
        {"pc_id": "x", "candidates": [{"candidate": "garbage"}]}
    ).encode(),
    "bad index": json.dumps(
        {"pc_id": "x", "candidates": [{"candidate": "", "sdp_mline_index": "zero"}]}
    ).encode(),
}


@pytest.mark.parametrize("body", GARBAGE_PATCHES.values(), ids=GARBAGE_PATCHES.keys())
def test_a_patch_with_garbage_is_a_4xx_not_a_500(
    served: tuple[TestClient, Playground, Spy], body: bytes
) -> None:
    client, _playground, _spy = served
    response = client.patch("/api/offer", content=body)
    assert 400 <= response.status_code < 500, response.text
    assert "Traceback" not in response.text


def test_a_real_offer_is_answered_and_gets_its_own_session(
    served: tuple[TestClient, Playground, Spy],
) -> None:
    client, playground, spy = served
    response = client.post(
        "/api/offer", json={"sdp": asyncio.run(browser_offer()), "type": "offer"}
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["type"] == "answer" and answer["sdp"].startswith("v=0")
    assert spy.calls == 1 and list(playground.sessions) == [answer["pc_id"]]
    # A well-formed candidate for a connection that does not exist is a 404.
    line = "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host"
    patch = {"pc_id": "nobody", "candidates": [{"candidate": line, "sdp_mid": "0"}]}
    assert client.patch("/api/offer", json=patch).status_code == 404
    # A garbage candidate for the live connection is a 400, not aiortc's AssertionError.
    garbage = {"pc_id": answer["pc_id"], "candidates": [{"candidate": "candidate:1 1 udp"}]}
    refused = client.patch("/api/offer", json=garbage)
    assert refused.status_code == 400 and "Traceback" not in refused.text
    assert client.delete(f"/api/sessions/{answer['pc_id']}").status_code == 200


def offer_json() -> dict[str, str]:
    return {"sdp": asyncio.run(browser_offer()), "type": "offer"}


def end_session(client: TestClient, playground: Playground, pc_id: str) -> None:
    """End the session now. (A peer that never connects is cancelled after
    ``WebRTCPeer.connect_timeout_secs``, 20 s by default: too long to wait for here.)"""
    task = playground.sessions[pc_id].task
    assert task is not None

    async def cancel() -> None:
        task.cancel()
        await asyncio.wait({task}, timeout=60)  # bounds a hang only

    client.portal.call(cancel)  # type: ignore[union-attr]
    assert task.done() and playground.sessions[pc_id].ended_at is not None


def test_offers_beyond_max_sessions_are_a_503_until_a_session_ends() -> None:
    with serving(OfferLimits(max_sessions=1)) as (client, playground, spy):
        first = client.post("/api/offer", json=offer_json())
        assert first.status_code == 200, first.text
        pc_id = first.json()["pc_id"]
        full = client.post("/api/offer", json=offer_json())
        assert full.status_code == 503 and "full" in full.json()["detail"]
        assert full.headers["retry-after"]
        assert spy.calls == 1 and len(playground.live()) == 1  # nothing built for it
        # Renegotiating the live session builds nothing, so the limit does not apply.
        again = client.post("/api/offer", json={**offer_json(), "pc_id": pc_id})
        assert again.status_code not in (429, 503), again.text
        end_session(client, playground, pc_id)
        freed = client.post("/api/offer", json=offer_json())
        assert freed.status_code == 200, freed.text


def test_one_client_starting_sessions_too_often_gets_a_429() -> None:
    now = [1000.0]
    limits = OfferLimits(per_client=2, window_secs=10, clock=lambda: now[0])
    with serving(limits) as (client, _playground, spy):
        for _ in range(2):
            answer = client.post("/api/offer", json=offer_json())
            assert answer.status_code == 200, answer.text
        now[0] += 9.0
        refused = client.post("/api/offer", json=offer_json())
        assert refused.status_code == 429 and "too many" in refused.json()["detail"]
        assert refused.headers["retry-after"] == "1"
        assert spy.calls == 2  # refused before anything was built
        # Garbage is a 400 as before, whatever the rate.
        assert client.post("/api/offer", json={"type": "offer"}).status_code == 400
        now[0] += 1.0  # the first two offers are out of the window now
        answer = client.post("/api/offer", json=offer_json())
        assert answer.status_code == 200, answer.text


def test_the_rate_limit_is_per_client_and_forgets_quiet_clients() -> None:
    now = [0.0]
    limits = OfferLimits(max_sessions=100, per_client=1, window_secs=10, clock=lambda: now[0])
    limits.admit("10.0.0.1", running=0)
    with pytest.raises(HTTPException) as refused:
        limits.admit("10.0.0.1", running=1)
    assert refused.value.status_code == 429
    limits.admit("10.0.0.2", running=1)  # another client is not held back
    with pytest.raises(HTTPException) as full:
        limits.admit("10.0.0.3", running=100)
    assert full.value.status_code == 503
    now[0] = 10.0
    limits.admit("10.0.0.1", running=2)
    assert list(limits._recent) == ["10.0.0.1"]  # 10.0.0.2's old offer is forgotten


def test_an_ended_session_is_let_go_and_only_its_turns_kept() -> None:
    """Memory comes back after a call: the playground keeps an ended call's turns, not its
    session (pipeline, per-call model state); the turns stay readable. (Whether anything
    else still holds the session is measured per call in benchmarks/serve_load.py: worker
    RSS after each round.)"""
    with serving() as (client, playground, _spy):
        answer = client.post("/api/offer", json=offer_json())
        assert answer.status_code == 200, answer.text
        pc_id = answer.json()["pc_id"]
        live = playground.sessions[pc_id]
        assert live.session is not None
        end_session(client, playground, pc_id)
        assert live.session is None and live.ended_at is not None
        view = client.get(f"/api/sessions/{quote(pc_id, safe='')}")
        assert view.status_code == 200 and view.json()["running"] is False
