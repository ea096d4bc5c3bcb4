"""``FallbackLLM``: an LLM stage of several providers, with failover, replay and an apology.

``llm=[OpenAILLM(), LlamaLLM()]`` builds one ``FailoverLLMSwitcher``: Pipecat's
``LLMSwitcher`` (every member started, tools registered on all, one active) that, unlike
Pipecat's failover strategy, moves on for every vendor fault (``policy.classify``) and for
silence: a first token later than the provider's budget, or a stream that stalls.

What the caller gets when the active provider fails:

- **Nothing spoken yet**: the same request (the context frame) is replayed on the next
  provider, and its answer is the reply. The failed attempt's response frames never leave
  the switcher, so downstream sees one response. When the caller has already waited a whole
  budget (a hang, a slow first token), ``one_moment`` is said first.
- **Part of the reply spoken** (a stream dropped or stalled mid-answer): the rest of that
  reply is stopped as a barge-in stops it (an ``InterruptionFrame`` downstream), so the
  context keeps what was heard plus the cut mark and no dangling fragment is spoken; then
  ``bridge`` is said and the next provider answers the request again.
- **No provider left**: the bot says ``apology`` and keeps listening; after
  ``max_failed_turns`` failed turns in a row it says it once more and ends the call.

A failed provider is retried on the first new turn after its backoff
(``FailoverPolicy.backoff``) and taken back if it answers; within a turn each provider is
tried at most once, so a turn never flaps.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import field_validator

from voicebot.failover.llm_switcher import DEFAULT_GOODBYE, FailoverLLMSwitcher
from voicebot.failover.members import GroupOfProviders, resolve_members
from voicebot.failover.policy import DEFAULT_POLICY, FailoverPolicy
from voicebot.providers.base import BuildContext, LLMProvider


class FallbackLLM(GroupOfProviders, LLMProvider):
    """Several LLMs in order of preference; see the module docstring.

    ``FallbackLLM([OpenAILLM(), LlamaLLM()], policy=FailoverPolicy(llm_first_token_secs=
    1.5))`` prefers the local model whenever the cloud's first token is later than 1.5 s.
    ``Bot(llm=[a, b])`` builds ``FallbackLLM([a, b])``."""

    name: ClassVar[str] = "fallback"

    providers: tuple[LLMProvider, ...]
    policy: FailoverPolicy = DEFAULT_POLICY
    #: Said before a replay once the caller has waited a whole budget (None: silence).
    one_moment: str | None = "One moment."
    #: Said after a reply cut by a fault, before the next provider answers again.
    bridge: str | None = "Sorry, let me start that again."
    #: Said instead of the apology when the last failed turn in a row ends the call.
    goodbye: str | None = DEFAULT_GOODBYE

    @field_validator("providers", mode="before")
    @classmethod
    def _check_providers(cls, value: Any) -> tuple[LLMProvider, ...]:
        return resolve_members(cls, "llm", value, LLMProvider)  # type: ignore[return-value]

    @property
    def supports_tools(self) -> bool:  # type: ignore[override]
        """Tools only when every provider can be offered them (any may answer)."""
        return all(p.supports_tools for p in self.providers)

    def prepare_tools(self, schemas: list[Any]) -> None:
        for provider in self.providers:
            provider.prepare_tools(schemas)

    def prepare_conversation(self, system_prompt: str, greeting: str | None) -> None:
        for provider in self.providers:
            provider.prepare_conversation(system_prompt, greeting)

    def build(self, ctx: BuildContext) -> FailoverLLMSwitcher:
        return FailoverLLMSwitcher(
            [_without_retries(p).build(ctx) for p in self.providers],
            providers=self.providers,
            policy=self.policy,
            one_moment=self.one_moment,
            bridge=self.bridge,
            goodbye=self.goodbye,
        )


def _without_retries(provider: LLMProvider) -> LLMProvider:
    """The provider with its client's own retries off, when it has that option and the
    user left it unset: the OpenAI SDK retries 429/5xx twice, obeying a ``Retry-After`` of
    up to 60 s, which the caller would spend in silence. The policy decides instead."""
    if "max_retries" in type(provider).model_fields and "max_retries" not in (
        provider.model_fields_set
    ):
        return provider.model_copy(update={"max_retries": 0})
    return provider
