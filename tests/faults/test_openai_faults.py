"""OpenAI faults on turn 2 of a three-turn call, with a second OpenAI-protocol server as the
fallback (``llm=[primary, fallback]``): every fault is survived.

The primary answers turn 1, misbehaves on turn 2 (one fault per case, issue #13 item 8) and
has turn 3's answer ready for when it is taken back; the fallback answers turn 2 (and turn
3 if the primary is still in its backoff). Asserted (``harness.assert_survived``): turns 1
and 3 answered, turn 2 answered by the fallback (or the apology when the fallback fails
too), the caller's wait on turn 2 within the LLM's first-token budget + 1 s, the session
ended by itself. A fault that is silent (a hang, a slow first token) fails over no sooner
than its budget: a timer never fires early, so that bound is exact.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.contract.servers.openai_chat import drop, server_error, text, unauthorized
from tests.faults.harness import (
    ANSWERS,
    CallOutcome,
    FaultCase,
    assert_survived,
    run_three_turn_call,
    three_turn_bot,
)
from tests.faults.openai_faults import (
    Empty,
    FaultyOpenAIServer,
    Garbage,
    Hang,
    SlowFirst,
    Stall,
    rate_limited_for,
)
from voicebot import OpenAILLM
from voicebot.failover.policy import DEFAULT_POLICY

pytestmark = pytest.mark.real_time  # real sockets: the servers' delays are real seconds

KEY = "sk-faults-0123456789abcdef"
FALLBACK_MODEL = "gpt-4o"
BUDGET = DEFAULT_POLICY.llm_first_token_secs
#: What turn 2 hears after a silent fault: the filler, then the fallback's answer.
MOMENT = "One moment."
BRIDGE = "Sorry, let me start that again."


def _case(
    fault: str, turn2: Sequence[Any], *, fallback_fails: bool = False, silent: bool = False
) -> FaultCase:
    """A case: the primary's turn-2 reply is ``turn2`` (the fault); with ``fallback_fails``
    the fallback answers turn 2 with a 500 too, so the caller gets the apology."""

    async def run(workdir: Path) -> CallOutcome:
        fallback_turn2 = [server_error()] if fallback_fails else [text(ANSWERS[1])]
        async with (
            FaultyOpenAIServer([text(ANSWERS[0]), *turn2, text(ANSWERS[2])], api_key=KEY) as a,
            FaultyOpenAIServer([*fallback_turn2, text(ANSWERS[2])], api_key=KEY) as b,
        ):
            bot = three_turn_bot(
                llm=[
                    OpenAILLM(base_url=a.base_url, api_key=KEY),
                    OpenAILLM(base_url=b.base_url, api_key=KEY, model=FALLBACK_MODEL),
                ]
            )
            config = {
                "llm": bot.llm.describe(),
                "primary_script": [repr(r) for r in (text(ANSWERS[0]), *turn2)],
                "fallback_fails": fallback_fails,
                "policy": DEFAULT_POLICY.model_dump(),
            }
            return await run_three_turn_call(bot, workdir, case=f"openai-{fault}", config=config)

    return FaultCase(
        stage="llm",
        vendor="openai",
        fault=fault,
        budget_secs=BUDGET,
        run=run,
        expect="apology" if fallback_fails else "fallback",
        silent=silent,
    )


CASES: list[FaultCase] = [
    _case("http-500", [server_error()]),
    _case("http-429-retry-after-20", [rate_limited_for(20)]),
    _case("http-401", [unauthorized()]),
    _case("hang-before-first-byte", [Hang()], silent=True),
    _case("stall-after-two-chunks", [Stall("Yes, behind")]),
    _case("drop-after-two-chunks", [drop("Yes, behind")]),
    _case("garbage-sse", [Garbage()]),
    _case("empty-stream", [Empty()]),
    _case("slow-first-token-4s", [SlowFirst(4.0, ANSWERS[1])], silent=True),
    _case("http-500-fallback-500", [server_error()], fallback_fails=True),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_fault_on_turn_two_is_survived(case: FaultCase, tmp_path: Path) -> None:
    outcome = await case.run(tmp_path)

    assert_survived(outcome, case, reply=ANSWERS[1])
    second = outcome.turn(2)
    [switch, *rest] = second.failovers
    assert switch["stage"] == "llm" and switch["from_provider"] == "OpenAILLM(gpt-4o-mini)"
    if case.expect == "apology":
        assert [f["to_provider"] for f in second.failovers] == [
            f"OpenAILLM({FALLBACK_MODEL})",
            "apology",
        ]
        assert second.heard.startswith("Sorry, I'm having trouble"), outcome.summary()
        return
    assert switch["to_provider"] == f"OpenAILLM({FALLBACK_MODEL})" and not rest
    if case.silent:
        # Failed over because the budget ran out, not sooner; the caller heard the filler.
        assert switch["after_secs"] >= BUDGET, outcome.summary()
        assert second.heard == f"{MOMENT} {ANSWERS[1]}", outcome.summary()
    elif case.fault in ("stall-after-two-chunks", "drop-after-two-chunks"):
        # Text had gone to be spoken ("Yes, behind"): the cut reply is stopped as a barge-in
        # stops it, the bridge said, the request answered again. The fragment was never
        # played, so the caller did not hear it and the context does not hold it.
        assert not switch["replayed"]
        assert second.said.startswith("Yes, behind"), outcome.summary()
        assert second.heard == f"{BRIDGE} {ANSWERS[1]}", outcome.summary()
    else:
        assert switch["replayed"], outcome.summary()
        assert second.heard == ANSWERS[1], outcome.summary()


def _refusing_port() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


async def test_every_llm_unreachable_at_start_ends_the_run_naming_each(tmp_path: Path) -> None:
    """Item 9: failover cannot help when every provider is out; the run ends at once with
    each provider's reason."""
    first, second = _refusing_port(), _refusing_port()
    try:
        urls = [f"http://127.0.0.1:{s.getsockname()[1]}/v1" for s in (first, second)]
        bot = three_turn_bot(llm=[OpenAILLM(base_url=u, api_key=KEY) for u in urls])
        outcome = await run_three_turn_call(bot, tmp_path, case="openai-all-unreachable")
    finally:
        first.close()
        second.close()

    assert outcome.error is not None and outcome.error.startswith("VendorError: "), outcome
    message = outcome.error.removeprefix("VendorError: ")
    assert message.startswith("every llm provider failed: "), message
    for url in urls:
        assert f"OpenAILLM could not connect to {url}: connection refused" in message
    assert outcome.run_secs < 15, "the run went on after every LLM was out"
