"""Bad ``voicebot serve`` flags, as a probe found them: a host that is no address, a
``--max-sessions`` the workers would ignore, ICE and public URLs of no known form. Each is
one ``voicebot: ...`` line naming the fix and exit 2, before the bot is even loaded."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.conftest import REPO
from tests.unit.test_cli_bad_input import fails
from voicebot.errors import ConfigError
from voicebot.server.options import ServeOptions, check_host, check_ice_server, check_public_url

FAKE_BOT = str(REPO / "examples/fake_bot.py")
#: A bot file that fails when loaded: a flag refused up front never gets to it.
NO_BOT = str(REPO / "examples/no_such_bot.py")


@pytest.mark.parametrize("host", ["999.1.1.1", "1.2.3", "::zz", "127.0.0.1 "])
def test_a_host_that_is_no_address_is_said_before_the_token(
    host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # No token: before, the probe was told the host "is reachable from other machines".
    err = fails(["serve", NO_BOT, "--host", host], capsys)
    assert err.startswith(f"voicebot: --host {host}: not an address or a name this machine ")
    assert "token" not in err and "no_such_bot" not in err


def test_a_host_name_that_does_not_resolve_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def resolver(host: str, *args: Any, **kwargs: Any) -> Any:  # no DNS query in a test
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    err = fails(["serve", NO_BOT, "--host", "no-such-host.invalid"], capsys)
    assert err.startswith("voicebot: --host no-such-host.invalid: not an address or a name")
    assert fails(["serve", NO_BOT, "--host="], capsys).startswith("voicebot: --host is empty")
    with pytest.raises(ConfigError, match="not an address"):
        ServeOptions("b.py", host="no-such-host.invalid", token="t" * 16).check()


def test_good_hosts_pass_and_still_need_a_token_off_loopback() -> None:
    for host in ("127.0.0.1", "0.0.0.0", "::", "::1", "localhost"):
        check_host(host)
    with pytest.raises(ConfigError, match="reachable from other machines: give a token"):
        ServeOptions("b.py", host="0.0.0.0").check()


def test_max_sessions_is_refused_without_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    # Served by workers the capacity is --workers x --calls-per-worker: the flag was ignored.
    err = fails(["serve", NO_BOT, "--max-sessions", "5"], capsys)
    assert err == (
        "voicebot: --max-sessions 5 is for --in-process only: served by workers, at most "
        "--workers x --calls-per-worker calls run at once (give those)"
    )
    assert "--in-process only" in fails(["serve", NO_BOT, "--text", "--max-sessions=2"], capsys)
    err = fails(["serve", NO_BOT, "--in-process", "--max-sessions", "0"], capsys)
    assert err == "voicebot: --max-sessions 0: give 1 or more"


@pytest.mark.parametrize(
    "url",
    [
        "garbage",
        "http://stun.example.com",
        "stuns:stun.example.com",  # aiortc skips it without a word
        "stun:",
        "stun:stun.example.com:99999",
        "stun:stun.example.com?transport=udp",
        "turns:turn.example.com?transport=udp",
        "turn:turn.example.com?transport=sctp",
        "turn:user:pass@turn.example.com",
    ],
)
def test_an_ice_server_must_be_a_stun_or_turn_url(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = fails(
        ["serve", NO_BOT, "--ice-server", "stun:stun.example.com", "--ice-server", url], capsys
    )
    assert err == (
        f"voicebot: --ice-server {url}: not a STUN/TURN URL; give stun:HOST[:PORT], "
        "turn:HOST[:PORT][?transport=udp|tcp] or turns:HOST[:PORT]"
    )


def test_usable_ice_servers_pass() -> None:
    for url in (
        "stun:stun.l.google.com:19302",
        "stun:192.0.2.1",
        "turn:turn.example.com:3478?transport=tcp",
        "turn:turn.example.com",
        "turns:turn.example.com:5349",
        "turns:turn.example.com?transport=tcp",
    ):
        check_ice_server(url)


@pytest.mark.parametrize(
    "url",
    [
        "garbage",
        "bot.example.com",
        "ftp://bot.example.com",
        "https://",
        "https://bot.example.com:99999",
        "https://bot.example.com:port",
        "https://bot.example.com/?a=1",
        "https://bot.example.com/#x",
        "https://user:pw@bot.example.com",
        "https://bot example.com",
    ],
)
def test_a_public_url_must_be_an_http_base_url(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = fails(["serve", NO_BOT, "--public-url", url], capsys)
    shown = url.replace(":pw@", ":***@")  # a password in a URL is masked, as everywhere
    assert err == (
        f"voicebot: --public-url {shown}: not a base URL; give http(s)://HOST[:PORT][/PATH], "
        "e.g. https://bot.example.com"
    )


def test_usable_public_urls_pass() -> None:
    for url in (
        "https://bot.example.com",
        "http://127.0.0.1:7860",
        "https://bot.example.com/voice/",
        "https://[2001:db8::1]:8443",
    ):
        check_public_url(url)
