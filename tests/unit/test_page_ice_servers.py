"""The browser's side of a call gets ``--ice-server`` too: the page ``voicebot serve`` serves
makes its ``RTCPeerConnection`` with the server's STUN URLs, in both modes (workers, where
the supervisor serves the page, and ``--in-process``). Before, the page always made it with
``iceServers: []``, so a browser behind NAT gathered no server-reflexive candidate.

A TURN URL stays the server's only: ``--ice-server`` gives no username and credential, and a
browser's ``RTCPeerConnection`` throws on a TURN URL without them (the page could not call).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from tests.conftest import REPO
from voicebot.cli import build_parser, main
from voicebot.server.options import options_from_args
from voicebot.server.page import PAGE, render_page
from voicebot.server.pool import WorkerPool
from voicebot.server.supervisor import create_app as supervisor_app

FAKE_BOT = str(REPO / "examples/fake_bot.py")
STUN = "stun:stun.example.com:3478"
STUN2 = "stun:192.0.2.7"
TURN = "turn:turn.example.com?transport=tcp"


def ice_servers_of(html: str) -> Any:
    """What the page hands to ``new RTCPeerConnection({ iceServers: ... })``: a literal, or
    the constant it names (read as JSON, as the browser would read it)."""
    (given,) = re.findall(r"new RTCPeerConnection\(\{ iceServers: (.+?) \}\)", html)
    if not given.startswith("["):
        (given,) = re.findall(rf"const {re.escape(given)} = (.*);  //", html)
    return json.loads(given)


@pytest.fixture(autouse=True)
def no_serve_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOICEBOT_SERVE_TOKEN", raising=False)
    monkeypatch.delenv("VOICEBOT_REDIS_URL", raising=False)


@pytest.fixture
def in_process_pages(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``voicebot serve --in-process`` runs its app's startup, gets ``/`` and returns,
    instead of serving until Ctrl-C."""
    pages: list[str] = []

    def run(server: uvicorn.Server, sockets: Any = None) -> None:
        with TestClient(server.config.app) as client:
            response = client.get("/")
            assert response.status_code == 200
            pages.append(response.text)

    monkeypatch.setattr(uvicorn.Server, "run", run)
    return pages


def worker_path_page(tmp_path: Path, *flags: str) -> str:
    """``/`` as the supervisor of ``voicebot serve`` (the default, workers) serves it, with
    the options its flags give; no worker is started (the page needs none)."""
    args = build_parser().parse_args(["serve", FAKE_BOT, "--workers", "1", *flags])
    options = options_from_args(args)
    pool = WorkerPool(lambda index, socket: [], workers=1)
    response = TestClient(supervisor_app(options, pool, tmp_path)).get("/")
    assert response.status_code == 200
    return response.text


def test_in_process_page_gets_the_stun_servers(in_process_pages: list[str]) -> None:
    argv = ["serve", FAKE_BOT, "--in-process", "--port", "0"]
    assert main([*argv, "--ice-server", STUN, "--ice-server", TURN, "--ice-server", STUN2]) == 0
    (page,) = in_process_pages
    assert ice_servers_of(page) == [{"urls": STUN}, {"urls": STUN2}]


def test_worker_path_page_gets_the_stun_servers(tmp_path: Path) -> None:
    page = worker_path_page(tmp_path, "--ice-server", STUN, "--ice-server", TURN)
    assert ice_servers_of(page) == [{"urls": STUN}]


def test_without_ice_servers_the_page_has_none(in_process_pages: list[str], tmp_path: Path) -> None:
    assert main(["serve", FAKE_BOT, "--in-process", "--port", "0"]) == 0
    (in_process,) = in_process_pages
    assert ice_servers_of(in_process) == []
    assert ice_servers_of(worker_path_page(tmp_path)) == []
    assert ice_servers_of(PAGE) == []
    assert in_process == PAGE  # the same self-contained page (test_browser_playground)


def test_a_hostile_url_cannot_leave_the_script() -> None:
    # voicebot serve refuses such a URL (check_ice_server); create_app(ice_servers=) does not.
    hostile = "stun:x</script><script>alert(1)</script><!--&\u2028"
    page = render_page([hostile])
    assert ice_servers_of(page) == [{"urls": hostile}]  # handed over as given
    # The script still ends where the template's does: nothing was opened or closed.
    for tag in ("<script", "</script", "<!--"):
        assert page.lower().count(tag) == PAGE.lower().count(tag), tag
    assert "\u2028" not in page
