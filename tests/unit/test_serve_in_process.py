"""``voicebot serve --in-process``: the flags it can honour reach the playground (before,
``--ice-server`` and ``--per-client`` were dropped without a word), and the workers' flags
it cannot honour are refused with one line and exit 2, before the bot is loaded."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from tests.conftest import REPO
from tests.unit.test_cli_bad_input import fails
from voicebot.cli import main
from voicebot.server.playground import Playground

FAKE_BOT = str(REPO / "examples/fake_bot.py")
#: A bot file that fails when loaded: a flag refused up front never gets to it.
NO_BOT = str(REPO / "examples/no_such_bot.py")
STUN = "stun:stun.example.com:3478"
TURN = "turn:turn.example.com?transport=tcp"


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Playground]:
    """Instead of serving until Ctrl-C, uvicorn runs the app's startup and shutdown (the
    lifespan: the models load, Pipecat's request handler is built) and returns. The serve
    settings a machine may have in its environment are cleared: ``--in-process`` refuses
    them (tests/unit/test_in_process_env.py), which is not what these tests are about."""
    for name in ("VOICEBOT_SERVE_TOKEN", "VOICEBOT_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    seen: list[Playground] = []

    def run(server: uvicorn.Server, sockets: Any = None) -> None:
        app = server.config.app
        with TestClient(app):
            seen.append(app.state.playground)

    monkeypatch.setattr(uvicorn.Server, "run", run)
    return seen


def test_ice_servers_reach_the_in_process_playground(started: list[Playground]) -> None:
    argv = ["serve", FAKE_BOT, "--in-process", "--port", "0"]
    assert main([*argv, "--ice-server", STUN, "--ice-server", TURN]) == 0
    (playground,) = started
    # What each new peer connection is built with (SmallWebRTCConnection(ice_servers=...)).
    handler_urls = [server.urls for server in playground._handler._ice_servers]
    assert handler_urls == [STUN, TURN]
    assert playground.limits.per_client == 5  # the default, as served by workers


def test_per_client_reaches_the_in_process_playground(started: list[Playground]) -> None:
    argv = ["serve", FAKE_BOT, "--in-process", "--port", "0"]
    assert main([*argv, "--per-client", "2", "--max-sessions", "3"]) == 0
    assert main([*argv, "--per-client", "0"]) == 0  # 0: no limit
    first, unlimited = started
    assert (first.limits.per_client, first.limits.max_sessions) == (2, 3)
    assert unlimited.limits.per_client >= 1_000_000
    assert first._handler._ice_servers is None  # none given: none set


@pytest.mark.parametrize(
    "flags",
    [
        ["--workers", "2"],
        ["--calls-per-worker", "1"],  # given, even as the default: it is still ignored
        ["--drain-timeout", "5"],
        ["--hang-timeout", "5"],
        ["--redis", "redis://127.0.0.1:6379"],
        ["--advertise", "http://127.0.0.1:7860"],
        ["--public-url", "https://bot.example.com"],
        ["--overcommit"],
        ["--relay-phone"],
    ],
)
def test_a_workers_flag_is_refused_in_process(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    err = fails(["serve", NO_BOT, "--in-process", *flags], capsys)
    assert err == (
        f"voicebot: {flags[0]} with --in-process: it is not used in one process; drop it, "
        "or drop --in-process"
    )


def test_several_workers_flags_are_named_together(capsys: pytest.CaptureFixture[str]) -> None:
    err = fails(["serve", NO_BOT, "--overcommit", "--workers=3", "--in-process"], capsys)
    assert err == (
        "voicebot: --workers, --overcommit with --in-process: they are not used in one "
        "process; drop them, or drop --in-process"
    )


def test_text_and_in_process_are_one_or_the_other(capsys: pytest.CaptureFixture[str]) -> None:
    # Before, --text won and --in-process was dropped without a word.
    err = fails(["serve", NO_BOT, "--text", "--in-process"], capsys)
    assert err == "voicebot: --text and --in-process: give one (--text serves in one process)"


def test_in_process_refusals_come_before_the_bot_is_loaded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = fails(["serve", NO_BOT, "--in-process", "--token", "t" * 16], capsys)
    assert err.startswith("voicebot: --in-process has no token and no isolation")
    err = fails(["serve", NO_BOT, "--in-process", "--per-client", "-1"], capsys)
    assert err == "voicebot: --per-client -1: give 0 (no limit) or more"
