"""Cartesia faults on turn 2 of a three-turn call, with the test tone (``FakeTTS``) as the
fallback voice (``tts=[CartesiaTTS(...), FakeTTS(...)]``): every fault is survived, each word
of the reply is spoken once, and the context holds what the caller heard.

The local Cartesia-protocol server speaks turn 1's reply, fails on turn 2's
(``CartesiaTTSServer(fault=...)``: issue #13 item 8's refuse, drop mid-audio, error message)
and speaks turn 3's if it is taken back. Asserted (``harness.assert_survived``): turns 1 and
3 answered, turn 2 answered within the TTS budget + 1 s, the session ended by itself; and
here: turn 2's heard text is the whole reply, and on a drop mid-audio the words Cartesia had
already voiced are not said again by the fallback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contract.servers.cartesia_tts import CartesiaTTSServer
from tests.faults.harness import (
    ANSWERS,
    CallOutcome,
    FaultCase,
    assert_survived,
    run_three_turn_call,
    three_turn_bot,
)
from voicebot import CartesiaTTS
from voicebot.failover.policy import DEFAULT_POLICY
from voicebot.testing import FakeTTS

pytestmark = pytest.mark.real_time  # real sockets: the servers' delays are real seconds

KEY = "sk_car_faults"
BUDGET = DEFAULT_POLICY.tts_first_byte_secs
#: Audio chunks (100 ms each) Cartesia sends of turn 2's reply before the drop: "Yes," has
#: its timestamp by then, "behind" has not.
DROP_AFTER_CHUNKS = 3


def _case(fault: str) -> FaultCase:
    async def run(workdir: Path) -> CallOutcome:
        async with CartesiaTTSServer(
            api_key=KEY,
            fault=fault,
            fault_context=2,
            fault_after_chunks=DROP_AFTER_CHUNKS,
            error_status=500,
            error_code="internal_error",
            error_title="Internal error",
            error_message="Something went wrong generating audio.",
        ) as cartesia:
            bot = three_turn_bot(
                tts=[
                    CartesiaTTS(url=cartesia.url, api_key=KEY),
                    FakeTTS(ttfb_secs=0.05, secs_per_char=0.03),
                ]
            )
            config = {
                "tts": bot.tts.describe(),
                "fault": f"{fault} on the reply to turn 2"
                + (f", after {DROP_AFTER_CHUNKS} audio chunks" if fault == "drop" else ""),
                "policy": DEFAULT_POLICY.model_dump(),
            }
            outcome = await run_three_turn_call(
                bot, workdir, case=f"cartesia-{fault}", config=config
            )
            assert cartesia.faulted, f"the {fault} fault never happened"
            if fault == "drop":
                [ctx] = [c for c in cartesia.contexts() if c.index == 2]
                outcome.config["voiced_by_cartesia"] = [w for w, _, _ in ctx.words_sent]
            return outcome

    return FaultCase(stage="tts", vendor="cartesia", fault=fault, budget_secs=BUDGET, run=run)


CASES: list[FaultCase] = [_case("refuse"), _case("drop"), _case("error")]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_fault_on_turn_two_is_survived_word_for_word(case: FaultCase, tmp_path: Path) -> None:
    outcome = await case.run(tmp_path)

    assert_survived(outcome, case, reply=ANSWERS[1])
    second = outcome.turn(2)
    assert second.said == ANSWERS[1], outcome.summary()
    [switch] = [f for f in second.failovers if f["stage"] == "tts"]
    assert switch["from_provider"] == "CartesiaTTS(sonic-3)", outcome.summary()
    assert switch["to_provider"] == "FakeTTS", outcome.summary()
    assert switch["replayed"], outcome.summary()
    if case.fault == "drop":
        # Cartesia had voiced "Yes," (its timestamp came with the audio): the fallback says
        # only the rest, and the caller heard each word once (a "Yes," said again by the
        # fallback would still end with the reply: the whole heard text is compared).
        assert outcome.config["voiced_by_cartesia"] == ["Yes,"], outcome.summary()
        assert second.heard == ANSWERS[1], outcome.summary()
