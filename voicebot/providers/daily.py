"""Daily WebRTC rooms, through Pipecat's ``DailyTransport``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import SecretStr

from voicebot.providers.base import BuildContext, TransportProvider

if TYPE_CHECKING:
    from pipecat.pipeline.worker import PipelineWorker
    from pipecat.transports.base_transport import BaseTransport
    from pipecat.transports.daily.transport import DailyTransport


class DailyRoom(TransportProvider):
    """Join a Daily room as the bot.

    ``room_url`` comes from the argument or ``DAILY_ROOM_URL``; ``token`` is needed for
    private rooms (``DAILY_TOKEN``). ``api_key`` (``DAILY_API_KEY``) is only needed for
    features that call Daily's REST API (dial-in, recordings), so it is optional here.
    """

    name: ClassVar[str] = "daily"
    extra: ClassVar[str | None] = "daily"
    requires: ClassVar[tuple[str, ...]] = ("daily", "pipecat.transports.daily.transport")

    room_url: str | None = None
    token: SecretStr | None = None
    api_key: SecretStr | None = None
    bot_name: str = "voicebot"

    def _room_url(self, ctx: BuildContext) -> str:
        from voicebot.errors import ConfigError

        url = self.room_url or ctx.env.get("DAILY_ROOM_URL")
        if not url:
            raise ConfigError(
                "DailyRoom needs a room: pass room_url=... or set DAILY_ROOM_URL in the "
                "environment or in .env"
            )
        return url

    def check(self, ctx: BuildContext) -> None:
        super().check(ctx)
        self._room_url(ctx)

    def on_client_ready(
        self,
        transport: BaseTransport,
        worker: PipelineWorker,
        callback: Callable[[], Awaitable[None]],
    ) -> None:
        async def joined(_transport: BaseTransport, _participant: Mapping[str, Any]) -> None:
            await callback()

        transport.add_event_handler("on_first_participant_joined", joined)

    def on_client_gone(
        self,
        transport: BaseTransport,
        worker: PipelineWorker,
        callback: Callable[[], Awaitable[None]],
    ) -> None:
        # Cancelled, not ended: an EndFrame would wait for the bot to finish its reply to
        # nobody (a caller leaving 1 s into a 15 s reply kept the session 14.6 s).
        async def left(
            _transport: BaseTransport, _participant: Mapping[str, Any], reason: str
        ) -> None:
            await worker.cancel(reason=f"the participant left ({reason})")

        transport.add_event_handler("on_participant_left", left)

    def build(self, ctx: BuildContext) -> DailyTransport:
        from pipecat.transports.daily.transport import DailyParams, DailyTransport

        token = self.token.get_secret_value() if self.token else ctx.env.get("DAILY_TOKEN")
        api_key = (
            self.api_key.get_secret_value() if self.api_key else ctx.env.get("DAILY_API_KEY", "")
        )
        return DailyTransport(
            self._room_url(ctx),
            token,
            self.bot_name,
            params=DailyParams(
                api_key=api_key,
                audio_in_enabled=True,
                audio_out_enabled=True,
                camera_out_enabled=False,
            ),
        )
