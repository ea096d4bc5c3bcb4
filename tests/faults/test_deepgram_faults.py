"""Deepgram faults on turn 2 of a three-turn call, with a second Deepgram-protocol server as
the fallback (``stt=[primary, fallback]``): every fault is survived and no word is lost.

Both servers "recognise" the caller by the audio itself (``heard_words``): a word of a
question is in the transcript only if the server received (most of) its audio. So turn 2's
transcript is the whole question only if the fallback got the audio the primary took in
before it failed and the audio spoken while it was failing: the replay of the ring.

The primary answers turn 1, fails on turn 2 (``DeepgramLiveServer(fault=...)``: issue #13
item 8's refuse, drop mid-utterance, error message, silence) and answers turn 3 if it is
taken back. Asserted (``harness.assert_survived``): turns 1 and 3 answered, turn 2 answered
by the fallback within the STT budget + 1 s, the session ended by itself; and here, turn 2's
transcript is the whole question and the switch is on turn 2's record.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

import pytest

from tests.contract.servers.deepgram_live import DeepgramLiveServer
from tests.faults.harness import (
    ANSWERS,
    CALLER_SECS,
    QUESTIONS,
    UTTERANCES,
    CallOutcome,
    FaultCase,
    assert_survived,
    run_three_turn_call,
    three_turn_bot,
)
from voicebot import DeepgramSTT
from voicebot.failover.policy import DEFAULT_POLICY
from voicebot.testing.caller_audio import caller_recording

pytestmark = pytest.mark.real_time  # real sockets: the servers' delays are real seconds

KEY = "dg-faults-0123456789"
FALLBACK_MODEL = "nova-2-general"
BUDGET = DEFAULT_POLICY.stt_final_secs
RATE = 16000
CHUNK = RATE * 2 * 20 // 1000  # the WAV transport's 20 ms frames, in bytes


@cache
def _caller_chunks() -> dict[bytes, int]:
    """Each 20 ms frame of the caller's speech -> its index on the caller's timeline."""
    pcm = caller_recording(UTTERANCES, total_secs=CALLER_SECS, sample_rate=RATE).to_bytes()
    chunks = (pcm[i : i + CHUNK] for i in range(0, len(pcm), CHUNK))
    return {c: i for i, c in enumerate(chunks) if any(c)}


def heard_words(messages: Sequence[bytes]) -> str:
    """A transcript from the audio a server got: the words of ``QUESTIONS`` whose audio it
    received, each question's words sharing its utterance evenly. A word counts when most of
    its 20 ms frames arrived."""
    index = _caller_chunks()
    got = {index[m] for m in messages if m in index}
    secs = CHUNK / (2 * RATE)
    words: list[str] = []
    for (start, duration), question in zip(UTTERANCES, QUESTIONS, strict=True):
        parts = question.split()
        span = duration / len(parts)
        for k, word in enumerate(parts):
            first = round((start + k * span) / secs)
            last = round((start + (k + 1) * span) / secs)
            frames = range(first, max(first + 1, last))
            if sum(i in got for i in frames) * 2 > len(frames):
                words.append(word)
    return " ".join(words)


def _case(fault: str, *, silent: bool = False) -> FaultCase:
    async def run(workdir: Path) -> CallOutcome:
        async with (
            DeepgramLiveServer(
                api_key=KEY, transcribe=heard_words, fault=fault, fault_after_ms=300
            ) as primary,
            DeepgramLiveServer(api_key=KEY, transcribe=heard_words) as fallback,
        ):
            bot = three_turn_bot(
                stt=[
                    DeepgramSTT(base_url=primary.base_url, api_key=KEY),
                    DeepgramSTT(base_url=fallback.base_url, api_key=KEY, model=FALLBACK_MODEL),
                ]
            )
            config = {
                "stt": bot.stt.describe(),
                "fault": f"{fault} on utterance 2"
                + ("" if silent else f", {primary.fault_after_ms} ms into its speech"),
                "policy": DEFAULT_POLICY.model_dump(),
            }
            outcome = await run_three_turn_call(
                bot, workdir, case=f"deepgram-{fault}", config=config
            )
            assert primary.faulted, f"the {fault} fault never happened"
            return outcome

    return FaultCase(
        stage="stt", vendor="deepgram", fault=fault, budget_secs=BUDGET, run=run, silent=silent
    )


CASES: list[FaultCase] = [
    _case("refuse"),
    _case("drop"),
    _case("error"),
    _case("silence", silent=True),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_fault_on_turn_two_is_survived_with_every_word(
    case: FaultCase, tmp_path: Path
) -> None:
    outcome = await case.run(tmp_path)

    assert_survived(outcome, case, reply=ANSWERS[1])
    first, second, third = outcome.turns
    assert first.user_text == QUESTIONS[0], outcome.summary()
    # The words spoken before and during the fault reached the transcript.
    assert second.user_text == QUESTIONS[1], outcome.summary()
    assert third.user_text == QUESTIONS[2], outcome.summary()
    [switch] = [f for f in second.failovers if f["stage"] == "stt"]
    assert switch["from_provider"] == "DeepgramSTT(nova-3-general)", outcome.summary()
    assert switch["to_provider"] == f"DeepgramSTT({FALLBACK_MODEL})", outcome.summary()
    assert switch["replayed"], outcome.summary()
    if case.silent:
        # No answer after the caller stopped: failed over when the budget ran out, no sooner.
        assert switch["reason"] == "no_first_token", outcome.summary()
        assert switch["after_secs"] >= BUDGET, outcome.summary()
    else:
        assert switch["reason"] != "no_first_token", outcome.summary()
