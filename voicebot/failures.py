"""When a stage cannot do its job, the session ends with a ``VendorError`` instead of going
on silent.

Pipecat reports a service's failure as an ``ErrorFrame`` (``push_error``), firing the
service's ``on_error`` event first, and by default keeps the pipeline running. A Deepgram or
Cartesia that refuses its key at start, or an OpenAI that cannot be reached, then leaves a
bot that never hears or never speaks, and a file-to-file run that exits 0.

``FailureWatch`` listens to ``on_error`` on the transport's two ends and on the STT, LLM and
TTS services, and ends the session (``PipelineWorker.cancel``) on the first failure that
means the bot cannot work:

- any error from a stage before the pipeline has started: its vendor could not be reached,
  or refused the key, while connecting (Cartesia connects while the pipeline is set up,
  Deepgram and Daily while it starts). Pipecat's own retries would hold the start for ~10 s
  and then leave the stage dead, so the first failed attempt is enough;
- an error that leaves a service unusable, whenever it comes (Pipecat's permanent
  categories, HTTP 400/401/403/404/422, or a service that gave up reconnecting): Pipecat
  gives it no more work, so every later turn would go unanswered;
- the LLM, which connects per request, failing to reach its server before it has answered
  once in this session.

Transient errors once the call is up (a 5xx, a connection that drops and reconnects) are
left to Pipecat and to failover.

A fallback group (``llm=[a, b]``, ``voicebot.failover``) is judged member by member with the
same rules: a member that is out is the group's business (it fails over); the session ends
only when every member is out, and the ``VendorError`` names each one's reason.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, Protocol, runtime_checkable

from loguru import logger
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    FunctionCallsStartedFrame,
    LLMTextFrame,
)
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.utils.errors import ErrorCategory, extract_http_status_code

from voicebot.errors import VendorError
from voicebot.providers.base import Provider
from voicebot.redaction import redact

Role = Literal["transport", "stt", "llm", "tts"]


@runtime_checkable
class HasEndpoint(Protocol):
    """A provider that can say where it connects, for the error message."""

    @property
    def endpoint(self) -> str: ...


class FailureWatch:
    """Records the first failure that makes a session unusable and ends the worker.

    ``Session.run`` raises ``error`` once the worker has finished.
    """

    def __init__(self, worker: Any) -> None:
        self.error: VendorError | None = None
        self._worker = worker
        self._started = False
        self._llm_answered = False
        self._ending: asyncio.Task[None] | None = None
        worker.add_event_handler("on_pipeline_started", self._on_started)
        worker.add_event_handler("on_setup_timeout", self._on_setup_timeout)

    def watch(self, processor: FrameProcessor, provider: Provider, role: Role) -> None:
        """Listen to ``processor``'s errors; ``provider`` built it (names it in messages).
        A fallback group's members are watched one by one (``_Group``)."""
        members = group_members(processor, provider)
        if members is not None:
            self._watch_group(_Group(role, members))
            return

        async def on_error(_processor: Any, frame: ErrorFrame) -> None:
            await self._on_error(frame, provider, role)

        processor.add_event_handler("on_error", on_error)
        if role == "llm":
            self._watch_answers(processor, self._answered)

    def _answered(self) -> None:
        self._llm_answered = True

    def _watch_group(self, group: _Group) -> None:
        for index, (member, provider) in enumerate(group.members):

            async def on_error(
                _member: Any, frame: ErrorFrame, index: int = index, provider: Provider = provider
            ) -> None:
                await self._on_member_error(group, index, frame, provider)

            member.add_event_handler("on_error", on_error)
            if group.role == "llm":
                self._watch_member_answers(member, group, index)

    def _watch_member_answers(self, llm: FrameProcessor, group: _Group, index: int) -> None:
        """Every answer of a group's member (not only the first): one that answers is no
        longer out, whatever put it out (taken back after being unreachable)."""

        async def pushed(_processor: Any, frame: Frame) -> None:
            if isinstance(frame, (LLMTextFrame, FunctionCallsStartedFrame)):
                group.answered_by(index)

        llm.add_event_handler("on_after_push_frame", pushed)

    async def _on_member_error(
        self, group: _Group, index: int, frame: ErrorFrame, provider: Provider
    ) -> None:
        """A member's error ends the session only once every member of its group is out:
        the one-provider rule (below) applied to each; the message names every reason."""
        if self.error is not None:
            return
        member = group.members[index][0]
        unusable = not member.is_usable
        unreachable = group.role == "llm" and _unreachable(frame) and not group.answered
        if self._started and not unusable and not unreachable:
            return  # the group fails over, or the call goes on with the apology
        group.out[index] = (vendor_error(frame, provider, group.role), self._started and unusable)
        for i, (_, while_unusable) in list(group.out.items()):
            if while_unusable and group.members[i][0].is_usable:
                del group.out[i]  # taken back since (its backoff ran out, it answered)
        if len(group.out) < len(group.members):
            return
        errors = [group.out[i][0] for i in range(len(group.members))]
        self.error = VendorError(
            f"every {group.role} provider failed: " + "; ".join(str(e) for e in errors),
            stage=" / ".join(e.stage for e in errors),
            reason="; ".join(e.reason for e in errors),
        )
        logger.debug(f"ending the session: {self.error}")
        self._ending = asyncio.get_running_loop().create_task(
            self._worker.cancel(reason=str(self.error))
        )

    def _watch_answers(self, llm: FrameProcessor, answered: Callable[[], None]) -> None:
        """Note the LLM's first answer, then stop looking (a handler on every push)."""
        seen = False

        async def pushed(_processor: Any, frame: Frame) -> None:
            nonlocal seen
            if seen or not isinstance(frame, (LLMTextFrame, FunctionCallsStartedFrame)):
                return
            seen = True
            answered()
            # Not from inside the handler: Pipecat is iterating over the handler list.
            asyncio.get_running_loop().call_soon(
                llm.remove_event_handler, "on_after_push_frame", pushed
            )

        llm.add_event_handler("on_after_push_frame", pushed)

    async def _on_started(self, _worker: Any, _frame: Any) -> None:
        self._started = True

    async def _on_setup_timeout(self, _worker: Any) -> None:
        """A stage that neither connected nor failed: Pipecat gives up on the start and
        ends the worker as if the call were over, which would look like a clean run."""
        if self.error is None:
            self.error = VendorError(
                "the session did not start: a stage was still connecting when Pipecat's "
                "setup timeout ran out (check the network and the vendors' addresses)",
                reason="setup timed out",
            )

    async def _on_error(self, frame: ErrorFrame, provider: Provider, role: Role) -> None:
        if self.error is not None:
            return
        unusable = frame.processor is not None and not frame.processor.is_usable
        unreachable = _unreachable(frame)
        if (
            self._started
            and not unusable
            and not (role == "llm" and unreachable and not self._llm_answered)
        ):
            return  # a transient error in a running call: Pipecat retries, or failover does
        self.error = vendor_error(frame, provider, role)
        logger.debug(f"ending the session: {self.error}")
        # Not awaited here: this runs inside the failing processor's push_error, which
        # may itself be part of what cancelling waits for (a setup or start in progress).
        self._ending = asyncio.get_running_loop().create_task(
            self._worker.cancel(reason=str(self.error))
        )


@dataclass
class _Group:
    """A fallback group's members and which of them are out (index -> the error, and
    whether it counts only while the member stays unusable)."""

    role: Role
    members: list[tuple[FrameProcessor, Provider]]
    out: dict[int, tuple[VendorError, bool]] = field(default_factory=dict)
    answered: bool = False

    def answered_by(self, index: int) -> None:
        """Member ``index`` answered: the group has answered, and that member is back."""
        self.answered = True
        self.out.pop(index, None)


def group_members(
    processor: FrameProcessor, provider: Provider
) -> list[tuple[FrameProcessor, Provider]] | None:
    """A fallback group's (member processor, member provider) pairs, in order: a group
    provider (``.providers``) built into a ``ServiceSwitcher`` (``.services``); else None."""
    providers = getattr(provider, "providers", None)
    services = getattr(processor, "services", None)
    if (
        isinstance(providers, (list, tuple))
        and isinstance(services, list)
        and len(providers) == len(services) > 0
    ):
        return list(zip(services, providers, strict=True))
    return None


def vendor_error(frame: ErrorFrame, provider: Provider, role: Role) -> VendorError:
    """The one-line ``VendorError`` for a stage's failure: who, where, why, and the fix."""
    name = type(provider).__name__
    reason, status = _reason(frame)
    if isinstance(provider, HasEndpoint):
        where = f"could not connect to {provider.endpoint}"
    elif role == "transport":
        where = "could not connect"
    else:
        where = "failed"
    hint = ""
    if status in (401, 403):
        env = provider.api_key_env
        explicit = getattr(provider, "api_key", None) is not None
        if env and not explicit:
            hint = f" (check {env})"
        elif explicit:
            hint = f" (check the api_key passed to {name})"
        else:
            hint = " (check its credentials)"
    elif status is not None:
        detail = " ".join(str(frame.error).split())[:160]
        hint = f" ({detail})" if detail else ""
    elif _unreachable(frame):
        hint = " (check the address and the network)"
    # A vendor's error text or an endpoint may carry a key (an echoed header, ?api_key=).
    return VendorError(redact(f"{name} {where}: {reason}{hint}"), stage=name, reason=redact(reason))


def _reason(frame: ErrorFrame) -> tuple[str, int | None]:
    """A short cause, and the HTTP status when the vendor answered with one."""
    exc = frame.exception
    status = extract_http_status_code(exc) if exc is not None else None
    if status is not None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "error"
        return f"{status} {phrase}", status
    for cause in _chain(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused", None
        if isinstance(cause, socket.gaierror):
            return "host name not found", None
        if isinstance(cause, TimeoutError):
            return "timed out", None
    text = " ".join(str(frame.error).split())[:200]
    return text or (type(exc).__name__ if exc is not None else "unknown error"), None


def _unreachable(frame: ErrorFrame) -> bool:
    """Whether the error says the server could not be reached at all."""
    if frame.category is ErrorCategory.CONNECTIVITY:
        return True
    return any(isinstance(c, OSError) for c in _chain(frame.exception))


def _chain(exc: BaseException | None) -> list[BaseException]:
    """``exc`` and what caused it (SDKs wrap the socket error: openai → httpx → OSError)."""
    found: list[BaseException] = []
    while exc is not None and exc not in found and len(found) < 10:
        found.append(exc)
        exc = exc.__cause__ or exc.__context__
    return found
