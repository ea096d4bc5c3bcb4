"""``SIP(...)``: the bot answers SIP calls itself, G.711 over RTP, no carrier WebSocket.

A PBX or SIP trunk sends its INVITE straight to the bot's address (or the bot registers to
a registrar and is called through it). One call per transport instance: a second INVITE
during a call gets 486 Busy Here (``voicebot serve`` runs one call per worker process).
Transfer is a REFER (``SipLine.refer``, used by ``Session.transfer``). Not done: SRTP,
TLS/TCP signaling, late offers (INVITE without SDP), outbound calls. docs/sip.md says why
and how it is tested (against baresip).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Literal

from loguru import logger
from pydantic import Field, SecretStr, field_validator

from voicebot.env import lookup
from voicebot.errors import ConfigError, MissingAPIKeyError
from voicebot.providers.base import BuildContext, TransportProvider

#: Where the registrar password is looked up when ``password=`` is not given.
PASSWORD_ENV = "SIP_PASSWORD"


def _split_host_port(value: str, default_port: int = 5060) -> tuple[str, int]:
    host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    if not port:
        return value, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"SIP(registrar={value!r}): give 'host' or 'host:port' with a port")
    return host, int(port)


class SIP(TransportProvider):
    """The caller is a SIP user agent calling ``sip:<anything>@host:port`` (UDP).

    ``registrar="pbx.example.com[:port]"`` with ``username=`` (and ``password=`` or
    ``SIP_PASSWORD``) registers ``sip:username@domain`` first, so the PBX routes calls here.
    """

    name: ClassVar[str] = "sip"
    extra: ClassVar[str | None] = "sip"
    requires: ClassVar[tuple[str, ...]] = ("aiosipua", "aiortp")

    host: str = "0.0.0.0"
    port: int = Field(default=5060, gt=0, lt=65536)
    #: The address written in SDP for RTP; by default ``host``, or for a wildcard ``host``
    #: the local address that routes to the caller.
    media_host: str | None = None
    rtp_ports: tuple[int, int] = (16384, 32766)
    #: Answered codecs; the caller's order of preference decides between them.
    codecs: tuple[Literal["PCMU", "PCMA"], ...] = ("PCMU", "PCMA")
    registrar: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    domain: str | None = None
    register_expires: int = Field(default=300, ge=60)

    @field_validator("host", "media_host")
    @classmethod
    def _check_ip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            raise ConfigError(
                f"SIP: {value!r} is not an IPv4 address: give one such as '0.0.0.0' (every "
                "interface) or '127.0.0.1'"
            ) from None
        return value

    @field_validator("rtp_ports")
    @classmethod
    def _check_ports(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 1024 <= low < high < 65536:
            raise ConfigError(
                f"SIP(rtp_ports={value!r}): give (low, high) with 1024 <= low < high < 65536"
            )
        return value

    @field_validator("codecs")
    @classmethod
    def _check_codecs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ConfigError("SIP(codecs=()): give at least one of 'PCMU', 'PCMA'")
        return value

    def check(self, ctx: BuildContext) -> None:
        super().check(ctx)
        if self.registrar is not None:
            _split_host_port(self.registrar)
            if not self.username:
                raise ConfigError(f"SIP(registrar={self.registrar!r}) needs username=...")
            self._password(ctx)
        # A port another program holds would otherwise fail only once the pipeline runs.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((self.host, self.port))
            except OSError as e:
                raise ConfigError(
                    f"SIP cannot listen on udp:{self.host}:{self.port}: {e.strerror or e}: "
                    "choose another port=..."
                ) from None

    def _password(self, ctx: BuildContext) -> str | None:
        if self.password is not None and self.password.get_secret_value():
            return self.password.get_secret_value()
        found = lookup(ctx.env, PASSWORD_ENV)
        if found is None:
            raise MissingAPIKeyError(
                f"SIP(registrar={self.registrar!r}) needs a password: pass password=... or "
                f"set {PASSWORD_ENV} in the environment or in .env"
            )
        return found

    def build(self, ctx: BuildContext) -> Any:
        from voicebot.transports.sip.line import LineConfig, SipLine
        from voicebot.transports.sip.transport import SIPTransport

        registrar = aor = password = None
        if self.registrar is not None:
            registrar = _split_host_port(self.registrar)
            aor = f"sip:{self.username}@{self.domain or registrar[0]}"
            password = self._password(ctx)
        config = LineConfig(
            host=self.host,
            port=self.port,
            media_host=self.media_host,
            rtp_port_range=self.rtp_ports,
            codecs=self.codecs,
            registrar=registrar,
            aor=aor,
            username=self.username,
            password=password,
            register_expires=self.register_expires,
        )
        return SIPTransport(SipLine(config))

    def on_client_ready(
        self, transport: Any, worker: Any, callback: Callable[[], Awaitable[None]]
    ) -> None:
        async def connected(_transport: Any, _info: Any) -> None:
            await callback()

        transport.add_event_handler("on_client_connected", connected)

    def on_client_gone(
        self, transport: Any, worker: Any, callback: Callable[[], Awaitable[None]]
    ) -> None:
        # Cancelled, not ended: the caller is gone, there is no one to play the rest to,
        # and an EndFrame would wait for the bot to finish its sentence (well past 2 s).
        async def disconnected(_transport: Any, reason: str) -> None:
            logger.info(f"SIP: {reason}; ending the session")
            await worker.cancel(reason=reason)

        transport.add_event_handler("on_client_disconnected", disconnected)


__all__ = ["SIP"]
