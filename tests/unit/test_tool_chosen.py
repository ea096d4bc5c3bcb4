"""The offline LLM tells the tool caller which tool it chose before it writes the
arguments (``voicebot.tools.frames``): the filler's wait starts then, and when the model
expects to answer later than that wait, the filler is said at once (``make demo``'s tool
turn: first audio 2.6 s -> 0.55 s, docs/tools.md)."""

from __future__ import annotations

from pipecat.frames.frames import FunctionCallInProgressFrame, TTSSpeakFrame
from pipecat.tests.utils import SleepFrame, run_test

from voicebot import tool
from voicebot.tools.caller import ToolCaller
from voicebot.tools.frames import ToolChosenFrame, ToolDroppedFrame


def caller_with_slow_filler() -> ToolCaller:
    @tool(filler_after_secs=30.0)  # never reached in these tests
    def hours(day: str) -> str:
        """Opening hours on a day."""
        return "closed"

    return ToolCaller([hours])


def in_progress(call_id: str) -> FunctionCallInProgressFrame:
    return FunctionCallInProgressFrame(
        function_name="hours", tool_call_id=call_id, arguments={"day": "sunday"}
    )


async def test_a_model_that_will_answer_late_gets_the_filler_at_the_choice() -> None:
    caller = caller_with_slow_filler()
    down, _ = await run_test(
        caller,
        frames_to_send=[
            ToolChosenFrame("c1", "hours", answer_in_secs=60.0),
            SleepFrame(1.0),  # the arguments being written
            in_progress("c1"),
        ],
    )
    assert [(u.kind, u.text) for u in caller.said] == [("filler", "One moment.")]
    assert [f.text for f in down if isinstance(f, TTSSpeakFrame)] == ["One moment."]
    # The choice is the tool caller's own news: it goes no further down the pipeline.
    assert not any(isinstance(f, (ToolChosenFrame, ToolDroppedFrame)) for f in down)


async def test_without_an_estimate_the_filler_waits_its_time_from_the_choice() -> None:
    caller = caller_with_slow_filler()
    await run_test(
        caller,
        frames_to_send=[ToolChosenFrame("c1", "hours"), SleepFrame(0.3), in_progress("c1")],
    )
    assert caller.said == []


async def test_a_dropped_choice_leaves_no_call_behind() -> None:
    caller = caller_with_slow_filler()
    await run_test(
        caller,
        frames_to_send=[ToolChosenFrame("c1", "hours"), ToolDroppedFrame("c1"), SleepFrame(0.1)],
    )
    assert caller.said == [] and not caller._calls
