"""SIP(...) refuses a bad spec with one line that says what to do, before anything starts."""

from __future__ import annotations

import socket

import pytest

pytest.importorskip(
    "aiosipua", reason='the SIP extra is not installed: pip install "voicebot[sip]"'
)

from tests.sip.baresip_peer import free_port
from voicebot.errors import ConfigError, MissingAPIKeyError
from voicebot.providers.base import BuildContext
from voicebot.transports.sip import SIP


def test_a_port_in_use_is_refused_at_check() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot listen on udp:127.0.0.1:{port}"):
            SIP(host="127.0.0.1", port=port).check(BuildContext())


def test_a_host_name_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"'pbx\.local' is not an IPv4 address"):
        SIP(host="pbx.local")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"registrar": "127.0.0.1:5070"}, ConfigError, "needs username"),
        ({"registrar": "127.0.0.1:x", "username": "bot"}, ConfigError, "'host:port'"),
        (
            {"registrar": "127.0.0.1:5070", "username": "bot"},
            MissingAPIKeyError,
            "pass password=... or set SIP_PASSWORD",
        ),
    ],
)
def test_registration_needs_its_credentials(
    kwargs: dict[str, str], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        SIP(host="127.0.0.1", port=free_port(), **kwargs).check(BuildContext(env={}))


def test_the_password_may_come_from_the_environment() -> None:
    sip = SIP(host="127.0.0.1", port=free_port(), registrar="127.0.0.1:5070", username="bot")
    sip.check(BuildContext(env={"SIP_PASSWORD": "secret"}))
    transport = sip.build(BuildContext(env={"SIP_PASSWORD": "secret"}))
    config = transport.line.config
    assert (config.registrar, config.aor, config.password) == (
        ("127.0.0.1", 5070),
        "sip:bot@127.0.0.1",
        "secret",
    )
    assert "secret" not in sip.describe()


@pytest.mark.parametrize("value", [(2000, 1000), (80, 2000)])
def test_rtp_ports_must_be_a_range(value: tuple[int, int]) -> None:
    with pytest.raises(ConfigError, match="rtp_ports"):
        SIP(rtp_ports=value)
