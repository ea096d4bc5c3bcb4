"""Routing policies of a ``Cascade``: which turns the capable model answers.

A policy looks at the caller's turn (``CascadeTurn``) before any model is asked, and says
``"capable"`` to escalate it; anything else (``"fast"``, ``None``, ``False``) leaves it to
the fast model. ``any_of(...)`` escalates when any of its policies does; a plain function
``lambda turn: "capable" if ... else "fast"`` is a policy too. ``fast_declines`` is judged
after the fact instead: it reads the start of the fast model's reply (held back, unspoken,
until its first words are in) and escalates when the fast model declines or hedges.

    route=any_of(needs_tool, longer_than(25), keywords(["refund", "complaint"]), fast_declines)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from loguru import logger

from voicebot.errors import ConfigError

Path = Literal["fast", "capable"]
#: What a policy may answer: ``"capable"`` or ``True`` escalate; the rest does not.
Verdict = Literal["fast", "capable"] | bool | None


@dataclass(frozen=True)
class CascadeTurn:
    """What a routing policy sees: the caller's words this turn, the conversation so far
    (the one context both models share) and the tools the bot offers (Pipecat
    ``FunctionSchema``s)."""

    text: str
    messages: tuple[Mapping[str, Any], ...] = ()
    tools: tuple[Any, ...] = ()

    @property
    def words(self) -> int:
        return len(self.text.split())


@runtime_checkable
class RoutePolicy(Protocol):
    """A named rule; ``blocking`` ones do CPU work and are run off the event loop."""

    @property
    def name(self) -> str: ...

    @property
    def blocking(self) -> bool: ...

    def __call__(self, turn: CascadeTurn) -> Verdict: ...


@dataclass(frozen=True)
class LongerThan:
    """Escalates a turn of more than ``words`` words: long requests are rarely small talk."""

    words: int
    name: str = field(default="longer_than", init=False)
    blocking: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.words, int) or self.words < 1:
            raise ConfigError(f"longer_than({self.words!r}) needs a whole number of words >= 1")

    def __call__(self, turn: CascadeTurn) -> Verdict:
        return "capable" if turn.words > self.words else None


@dataclass(frozen=True)
class Keywords:
    """Escalates a turn that says one of ``words`` (whole words or phrases, any case)."""

    words: tuple[str, ...]
    name: str = field(default="keywords", init=False)
    blocking: bool = field(default=False, init=False)
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (
            isinstance(self.words, str)
            or not self.words
            or not all(isinstance(w, str) and w.strip() for w in self.words)
        ):
            raise ConfigError(
                f'keywords({self.words!r}) needs a list of words, e.g. keywords(["refund"])'
            )
        alternatives = "|".join(re.escape(w.strip()) for w in self.words)
        object.__setattr__(self, "_pattern", re.compile(rf"\b(?:{alternatives})\b", re.I))

    def __call__(self, turn: CascadeTurn) -> Verdict:
        return "capable" if self._pattern.search(turn.text) else None


@dataclass(frozen=True)
class NeedsTool:
    """Escalates a turn that asks for one of the bot's tools, judged by the offline tool
    router's scoring (``voicebot.providers.local.tool_router.ToolRouter``: sentence
    embeddings, or word overlap without an embedding model); ``threshold`` overrides its
    calibrated one. Without tools it never escalates."""

    threshold: float | None = None
    name: str = field(default="needs_tool", init=False)
    blocking: bool = field(default=True, init=False)

    def __call__(self, turn: CascadeTurn) -> Verdict:
        schemas = [t for t in turn.tools if hasattr(t, "name")]
        if not schemas or not turn.text.strip():
            return None
        from voicebot.providers.local.tool_router import ToolRouter, ToolSpec

        router = ToolRouter(
            [ToolSpec.from_function_schema(s) for s in schemas], threshold=self.threshold
        )
        return "capable" if router.route(turn.text) is not None else None


#: How a fast model declines or hedges, at the start of its reply (lower case). Each names
#: the model itself ("I can't"): "Sorry, we're closed on Sundays" is an answer, not a decline.
DECLINE_MARKERS: tuple[str, ...] = (
    "i'm not sure",
    "i am not sure",
    "i'm not certain",
    "i don't know",
    "i do not know",
    "i can't",
    "i cannot",
    "i can not",
    "i'm unable",
    "i am unable",
    "i'm not able",
    "i am not able",
    "i don't have",
    "i do not have",
    "i'm sorry, i",
    "sorry, i",
    "unfortunately, i",
    "i'm afraid i",
    "as an ai",
)


@dataclass(frozen=True)
class FastDeclines:
    """Escalates when the fast model's reply starts with a decline or hedge (``markers``).

    The fast model's first words are held back until its first sentence ends, or it has
    said more words than the longest marker, or it stops; then they are released, or thrown
    away unspoken and the turn is asked of the capable model. A tool call is not a decline.
    """

    markers: tuple[str, ...] = DECLINE_MARKERS
    name: str = field(default="fast_declines", init=False)
    blocking: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if isinstance(self.markers, str) or not self.markers:
            raise ConfigError("fast_declines needs a list of markers, e.g. ['i don't know']")

    def __call__(self, turn: CascadeTurn) -> Verdict:
        return None  # judged on the reply: ``judge``

    @property
    def hold_words(self) -> int:
        """Words held before judging: enough to see the longest marker whole."""
        return max(len(m.split()) for m in self.markers) + 1

    def judge(self, text: str, *, final: bool) -> bool | None:
        """True: a decline; False: not one; None: too early to say (hold on)."""
        said = re.sub(r"\s+", " ", text.replace("\u2019", "'")).strip().lower()
        said = re.sub(r"^(?:hmm+|well|oh|um+|uh+)[,.]?\s+", "", said)
        if any(said.startswith(m) for m in self.markers):
            return True
        if final or len(text.split()) > self.hold_words or re.search(r"[.!?](\s|$)", text):
            return False
        return None


@dataclass(frozen=True)
class UserRoute:
    """A plain function as a policy; its ``__name__`` goes on the turn record."""

    function: Callable[[CascadeTurn], Any]
    blocking: bool = False

    @property
    def name(self) -> str:
        return str(getattr(self.function, "__name__", "route"))

    def __call__(self, turn: CascadeTurn) -> Verdict:
        verdict = self.function(turn)
        if verdict in ("fast", "capable", True, False, None):
            return verdict  # type: ignore[no-any-return]
        raise ValueError(f'returned {verdict!r}, not "fast" or "capable"')


@dataclass(frozen=True)
class AnyOf:
    """Escalates when any policy does (in order; the first one that does is recorded)."""

    policies: tuple[RoutePolicy, ...]

    @property
    def blocking(self) -> bool:
        return any(p.blocking for p in self.policies)

    @property
    def declines(self) -> FastDeclines | None:
        """The ``fast_declines`` policy among them, if any."""
        return next((p for p in self.policies if isinstance(p, FastDeclines)), None)

    def decide(self, turn: CascadeTurn) -> tuple[Path, str]:
        """The path for ``turn`` and why. A policy that raises or answers nonsense is logged
        and counts as "fast": a broken rule must not leave the caller unanswered."""
        for policy in self.policies:
            try:
                verdict = policy(turn)
            except Exception as e:
                logger.error(f"cascade route {policy.name} failed on {turn.text!r}: {e}")
                continue
            if verdict is True or verdict == "capable":
                return "capable", policy.name
        return "fast", "routine"

    def describe(self) -> str:
        return f"any_of({', '.join(_describe(p) for p in self.policies)})"


def _describe(policy: RoutePolicy) -> str:
    if isinstance(policy, LongerThan):
        return f"longer_than({policy.words})"
    if isinstance(policy, Keywords):
        return f"keywords({list(policy.words)!r})"
    return policy.name


def as_policy(value: Any) -> RoutePolicy:
    if isinstance(value, RoutePolicy) and not isinstance(value, AnyOf):
        return value
    if isinstance(value, AnyOf):
        raise ConfigError("any_of(...) inside any_of(...): list the policies in one any_of")
    if callable(value):
        return UserRoute(value)
    raise ConfigError(
        f"a cascade route is a policy (needs_tool, longer_than(20), keywords([...]), "
        f"fast_declines) or a function of the turn, not {type(value).__name__}"
    )


def any_of(*policies: Any) -> AnyOf:
    """Policies combined: the turn goes to the capable model when any says so."""
    if len(policies) == 1 and isinstance(policies[0], (list, tuple)):
        policies = tuple(policies[0])
    if not policies:
        raise ConfigError("any_of() needs at least one policy, e.g. any_of(needs_tool)")
    return AnyOf(tuple(as_policy(p) for p in policies))


def as_route(value: Any) -> AnyOf:
    """``Cascade(route=...)`` as an ``AnyOf``: one policy, a function, a list, or any_of."""
    if isinstance(value, AnyOf):
        return value
    if isinstance(value, (list, tuple)):
        return any_of(*value)
    return any_of(value)


def longer_than(words: int) -> LongerThan:
    """Escalate turns of more than ``words`` words."""
    return LongerThan(words)


def keywords(words: Iterable[str]) -> Keywords:
    """Escalate turns that say one of ``words``."""
    if isinstance(words, str):
        raise ConfigError(f'keywords({words!r}) needs a list: keywords(["{words}"])')
    return Keywords(tuple(words))


#: Escalate a turn that asks for a tool (the offline tool router's scoring).
needs_tool = NeedsTool()
#: Escalate when the fast model's reply starts by declining or hedging.
fast_declines = FastDeclines()
#: ``Cascade``'s route when none is given: tool requests, and what the fast model declines.
DEFAULT_ROUTE = any_of(needs_tool, fast_declines)

__all__: Sequence[str] = (
    "DECLINE_MARKERS",
    "DEFAULT_ROUTE",
    "AnyOf",
    "CascadeTurn",
    "FastDeclines",
    "Keywords",
    "LongerThan",
    "NeedsTool",
    "RoutePolicy",
    "UserRoute",
    "any_of",
    "as_route",
    "fast_declines",
    "keywords",
    "longer_than",
    "needs_tool",
)
