"""``voicebot serve --in-process`` refuses the serve token and the Redis URL the workers take
from the environment (``VOICEBOT_SERVE_TOKEN``, ``VOICEBOT_REDIS_URL``), as it refuses
``--token`` and ``--redis``: one line, exit 2, before the bot is loaded. Before, it checked
only ``--token`` and served with neither, without a word."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from tests.conftest import REPO
from tests.unit.test_cli_bad_input import fails
from voicebot.cli import main

FAKE_BOT = str(REPO / "examples/fake_bot.py")
#: A bot file that fails when loaded: a refusal up front never gets to it.
NO_BOT = str(REPO / "examples/no_such_bot.py")


@pytest.fixture(autouse=True)
def no_serve_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets what it means to (not what the shell running the tests has)."""
    monkeypatch.delenv("VOICEBOT_SERVE_TOKEN", raising=False)
    monkeypatch.delenv("VOICEBOT_REDIS_URL", raising=False)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Instead of serving until Ctrl-C, uvicorn runs the app's startup and shutdown."""
    runs: list[bool] = []

    def run(server: uvicorn.Server, sockets: Any = None) -> None:
        with TestClient(server.config.app):
            runs.append(True)

    monkeypatch.setattr(uvicorn.Server, "run", run)
    return runs


def test_in_process_refuses_a_token_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The workers take it from there (options_from_args); in one process no one is asked it.
    monkeypatch.setenv("VOICEBOT_SERVE_TOKEN", "t" * 16)
    err = fails(["serve", NO_BOT, "--in-process"], capsys)
    assert err == (
        "voicebot: VOICEBOT_SERVE_TOKEN is set, and --in-process has no token: unset it "
        "(development, on loopback), or drop --in-process"
    )


def test_in_process_refuses_a_redis_url_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VOICEBOT_REDIS_URL", "redis://127.0.0.1:6379/0")
    err = fails(["serve", NO_BOT, "--in-process"], capsys)
    assert err == (
        "voicebot: VOICEBOT_REDIS_URL is set, and --in-process shares no host registry: "
        "unset it, or drop --in-process"
    )


def test_an_empty_variable_counts_as_unset(
    monkeypatch: pytest.MonkeyPatch, served: list[bool]
) -> None:
    # As for the workers (``os.environ.get(...) or None``).
    monkeypatch.setenv("VOICEBOT_SERVE_TOKEN", "")
    monkeypatch.setenv("VOICEBOT_REDIS_URL", "")
    assert main(["serve", FAKE_BOT, "--in-process", "--port", "0"]) == 0
    assert served == [True]
