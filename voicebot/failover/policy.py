"""The failover policy every stage shares: which vendor faults move a stage to its next
provider, how long a stage may keep the caller waiting, when a failed provider is tried
again, and the record each switch leaves (a log line, a Prometheus counter, a field on the
turn record).

Pipecat fails a ``ServiceSwitcher`` over only on errors that leave a service unusable
(401/403/400), so a 429, a 5xx, a timeout or a dropped connection left the caller in
silence. Here every vendor fault counts (``classify``), and so does silence: a stage that
does not answer within its budget (``FailoverPolicy``) is failed over by the group that
holds it (``voicebot.failover.llm``, ``.stt``, ``.tts``).
"""

from __future__ import annotations

import functools
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from loguru import logger
from pydantic import Field

from voicebot.options_model import OptionsModel
from voicebot.redaction import redact

if TYPE_CHECKING:
    from pipecat.frames.frames import ErrorFrame

    from voicebot.providers.base import Provider

Stage = Literal["stt", "llm", "tts"]


class Reason(StrEnum):
    """Why a provider was failed over: the ``reason`` label of the counter and the record."""

    REFUSED = "connection_refused"
    RESET = "connection_reset"
    DNS = "dns"
    AUTH = "auth"  # 401 / 403
    RATE_LIMITED = "rate_limited"  # 429, whatever its Retry-After
    QUOTA = "quota"  # 402
    SERVER = "server_error"  # 5xx
    BAD_REQUEST = "bad_request"  # other 4xx: the next provider may take it
    NO_FIRST = "no_first_token"  # nothing within the first-token/first-byte budget
    STALL = "stall"  # a stream that stopped mid-response
    DROPPED = "dropped"  # a socket or stream cut mid-response
    MALFORMED = "malformed"  # a response that does not parse
    TIMEOUT = "timeout"  # the vendor's own client timed out
    EMPTY = "empty_response"  # a response with nothing in it
    RECOVERED = "recovered"  # a switch back, to a provider whose backoff ran out
    ERROR = "error"  # anything else the provider reported


class FailoverPolicy(OptionsModel):
    """Budgets and recovery, for every stage of a fallback group.

    The budgets are what a caller can bear in silence before the next provider takes over;
    they are counted from the request (first token, first audio byte, final transcript after
    the caller stopped) and between pieces of a stream (stall). A provider that runs its
    model in-process (``Provider.runs_in_process()``: ``LlamaLLM``, ``WhisperSTT``,
    ``PiperTTS``) gets the ``local_*`` first budget: it answers from this machine's CPU, and
    as the last fallback it should be waited for rather than abandoned.
    """

    llm_first_token_secs: float = Field(default=2.5, gt=0)
    llm_local_first_token_secs: float = Field(default=8.0, gt=0)
    llm_stall_secs: float = Field(default=2.0, gt=0)
    stt_final_secs: float = Field(default=2.0, gt=0)  # caller stopped -> final transcript
    stt_local_final_secs: float = Field(default=6.0, gt=0)
    tts_first_byte_secs: float = Field(default=2.0, gt=0)
    tts_local_first_byte_secs: float = Field(default=4.0, gt=0)
    tts_stall_secs: float = Field(default=2.0, gt=0)
    #: A failed provider is tried again after this long, doubling per failure up to the max.
    retry_secs: float = Field(default=5.0, ge=0)
    max_retry_secs: float = Field(default=60.0, ge=0)
    #: Switches one turn may make: the first failover, and one switch back at most.
    max_switches_per_turn: int = Field(default=2, ge=1)

    def first_budget(self, stage: Stage, provider: Provider | None = None) -> float:
        """Seconds a provider may take to its first token/byte/final transcript."""
        local = provider is not None and provider.runs_in_process()
        if stage == "llm":
            return self.llm_local_first_token_secs if local else self.llm_first_token_secs
        if stage == "stt":
            return self.stt_local_final_secs if local else self.stt_final_secs
        return self.tts_local_first_byte_secs if local else self.tts_first_byte_secs

    def stall_budget(self, stage: Stage) -> float:
        """Seconds a stream may go quiet mid-response."""
        if stage == "llm":
            return self.llm_stall_secs
        if stage == "tts":
            return self.tts_stall_secs
        return self.stt_final_secs

    def backoff(self, failures: int) -> float:
        """Seconds before a provider that failed ``failures`` times in a row is tried again."""
        if failures <= 0:
            return 0.0
        return float(min(self.max_retry_secs, self.retry_secs * 2.0 ** (failures - 1)))


DEFAULT_POLICY = FailoverPolicy()


# ---- which faults fail over -------------------------------------------------------------------


def classify(error: ErrorFrame | BaseException | None) -> Reason:
    """Why ``error`` (an ``ErrorFrame`` or an exception) counts against its provider.

    Every vendor fault fails over; the reason only labels it. A 429 fails over at once
    whatever its ``Retry-After`` (the caller cannot wait 20 s), a 401 too (the next
    provider has its own key)."""
    from pipecat.frames.frames import ErrorFrame
    from pipecat.utils.errors import ErrorCategory, extract_http_status_code

    exc: BaseException | None
    category = None
    text = ""
    if isinstance(error, ErrorFrame):
        exc, category, text = error.exception, error.category, str(error.error)
    else:
        exc = error
    chain = _chain(exc)
    status = _status(chain, extract_http_status_code)
    if status is not None:
        return _from_status(status)
    for cause in chain:
        if isinstance(cause, ConnectionRefusedError):
            return Reason.REFUSED
        if isinstance(cause, socket.gaierror):
            return Reason.DNS
        if isinstance(cause, ConnectionResetError | BrokenPipeError):
            return Reason.RESET
        if isinstance(cause, json.JSONDecodeError | UnicodeDecodeError):
            return Reason.MALFORMED
        if isinstance(cause, TimeoutError):
            return Reason.TIMEOUT
    names = {type(c).__name__ for c in chain}
    if names & _DROPPED_NAMES:
        return Reason.DROPPED
    if names & _TIMEOUT_NAMES or "timeout" in text.lower():
        return Reason.TIMEOUT
    if names & _MALFORMED_NAMES:
        return Reason.MALFORMED
    if category is ErrorCategory.CONNECTIVITY:
        return Reason.REFUSED
    if category is not None and category in _category_reasons():
        return _category_reasons()[category]
    return Reason.ERROR


def fails_over(error: ErrorFrame) -> bool:
    """Whether an error from the active provider should move the stage to the next one:
    every vendor fault, not a failure of the application's own code (a tool handler that
    raised, content the service already repaired: ``ErrorCategory.APPLICATION``)."""
    from pipecat.utils.errors import ErrorCategory

    return error.category is not ErrorCategory.APPLICATION


def describe(error: ErrorFrame | BaseException | None) -> str:
    """A short, key-free account of ``error`` for logs and records."""
    from pipecat.frames.frames import ErrorFrame

    if isinstance(error, ErrorFrame):
        text = str(error.error)
    elif error is not None:
        text = f"{type(error).__name__}: {error}"
    else:
        text = ""
    return redact(" ".join(text.split())[:200])


def _from_status(status: int) -> Reason:
    if status in (401, 403):
        return Reason.AUTH
    if status == 429:
        return Reason.RATE_LIMITED
    if status == 402:
        return Reason.QUOTA
    if status >= 500:
        return Reason.SERVER
    return Reason.BAD_REQUEST


def _status(chain: list[BaseException], extract: Callable[[Any], int | None]) -> int | None:
    for cause in chain:
        status = extract(cause)
        if status is not None:
            return int(status)
        status = getattr(cause, "status_code", None) or getattr(cause, "status", None)
        if isinstance(status, int) and 100 <= status < 600:
            return status
        response = getattr(cause, "response", None)  # websockets' InvalidStatus
        code = getattr(response, "status_code", None)
        if isinstance(code, int) and 100 <= code < 600:
            return code
    return None


def _chain(exc: BaseException | None) -> list[BaseException]:
    """``exc`` and what caused it (SDKs wrap the socket error: openai → httpx → OSError)."""
    found: list[BaseException] = []
    while exc is not None and exc not in found and len(found) < 10:
        found.append(exc)
        exc = exc.__cause__ or exc.__context__
    return found


#: Exception class names, so no vendor SDK is imported to recognise its errors.
_DROPPED_NAMES = {
    "APIConnectionError",  # openai: the stream or connection broke
    "RemoteProtocolError",  # httpx/httpcore: the body ended mid-chunk
    "ReadError",
    "ConnectionClosed",
    "ConnectionClosedError",  # websockets
    "ClientConnectionError",
    "ServerDisconnectedError",
    "ClientPayloadError",  # aiohttp
    "IncompleteRead",
}
_TIMEOUT_NAMES = {"APITimeoutError", "ReadTimeout", "ConnectTimeout", "TimeoutException"}
_MALFORMED_NAMES = {"APIResponseValidationError", "ValidationError", "DecodeError"}


@functools.cache
def _category_reasons() -> dict[Any, Reason]:
    """Pipecat's error categories as reasons (built on first use: a spec imports no Pipecat)."""
    from pipecat.utils.errors import ErrorCategory

    return {
        ErrorCategory.AUTHENTICATION: Reason.AUTH,
        ErrorCategory.AUTHORIZATION: Reason.AUTH,
        ErrorCategory.RATE_LIMIT: Reason.RATE_LIMITED,
        ErrorCategory.QUOTA: Reason.QUOTA,
        ErrorCategory.SERVER: Reason.SERVER,
        ErrorCategory.INVALID_REQUEST: Reason.BAD_REQUEST,
    }


# ---- when a failed provider is tried again ------------------------------------------------


@dataclass
class Health:
    """One provider's standing in its group: usable now, or failed and when to retry.

    Recovery is lazy, as LiveKit's adapters do it: a failed provider is not polled; once its
    backoff has run out it is tried on the next request (``due``), and the group takes it
    back if that request succeeds. Backoff doubles per consecutive failure."""

    name: str
    failures: int = 0
    failed_at: float | None = None
    retry_at: float = 0.0
    last_reason: Reason | None = None
    last_detail: str = ""

    @property
    def healthy(self) -> bool:
        return self.failures == 0

    def failed(self, reason: Reason, detail: str, policy: FailoverPolicy, now: float) -> None:
        self.failures += 1
        self.failed_at = now
        self.retry_at = now + policy.backoff(self.failures)
        self.last_reason, self.last_detail = reason, detail

    def succeeded(self) -> None:
        self.failures = 0
        self.failed_at = None
        self.retry_at = 0.0

    def due(self, now: float) -> bool:
        """Healthy, or failed with its backoff run out (worth one more try)."""
        return self.failures == 0 or now >= self.retry_at


# ---- the record of a switch ---------------------------------------------------------------


@dataclass
class FailoverEvent:
    """One switch of a stage from one provider to another (or to the apology: ``to`` is
    ``"apology"`` when no provider was left, and ``from`` the last one tried)."""

    stage: Stage
    from_provider: str
    to_provider: str
    reason: str
    detail: str = ""
    #: Seconds from the request to the switch: what the fault cost the caller in silence.
    after_secs: float | None = None
    #: Whether the request was replayed on the new provider (nothing had been spoken yet).
    replayed: bool = False
    at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        after = f" after {self.after_secs:.2f}s" if self.after_secs is not None else ""
        detail = f" ({self.detail})" if self.detail else ""
        replay = ", request replayed" if self.replayed else ""
        return (
            f"voicebot failover: {self.stage} {self.from_provider} -> {self.to_provider}: "
            f"{self.reason}{after}{replay}{detail}"
        )


@runtime_checkable
class FailoverListener(Protocol):
    """Where a group reports its switches (the session's turn log files them on a turn)."""

    def __call__(self, event: FailoverEvent) -> None: ...


def record_switch(event: FailoverEvent, listeners: list[FailoverListener] | None = None) -> None:
    """The three records of a switch: a log line, the Prometheus counter
    ``voicebot_failovers_total{stage,from,to,reason}`` (when ``prometheus-client`` is
    installed) and each listener (the turn record's ``failovers``)."""
    logger.warning(event.line())
    counter = failover_counter()
    if counter is not None:
        counter.labels(event.stage, event.from_provider, event.to_provider, event.reason).inc()
    for listener in listeners or ():
        try:
            listener(event)
        except Exception as e:  # a listener's bug must not cost the call its failover
            logger.opt(exception=e).error(f"voicebot: failover listener raised {e}")


_counter_lock = threading.Lock()
_counter: Any = None
_counter_made = False


def failover_counter() -> Any:
    """The process-wide ``voicebot_failovers_total`` counter in ``prometheus_client``'s
    default registry (as ``voicebot.metrics.prometheus`` keeps its collectors), made on the
    first switch; None without ``prometheus-client``."""
    global _counter, _counter_made
    with _counter_lock:
        if not _counter_made:
            _counter_made = True
            try:
                import prometheus_client
            except ImportError:
                _counter = None
            else:
                _counter = prometheus_client.Counter(
                    "voicebot_failovers",
                    "Switches of a stage from one provider to the next (or to the apology).",
                    ["stage", "from", "to", "reason"],
                )
        return _counter


def provider_label(provider: Provider) -> str:
    """A provider's name in records and labels: its class, and its model if it has one."""
    model = getattr(provider, "model", None)
    name = type(provider).__name__
    return f"{name}({model})" if isinstance(model, str) and model else name
