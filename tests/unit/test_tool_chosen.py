"""The offline LLM tells the tool caller which tool it chose before it writes the
arguments (``voicebot.tools.frames``): the filler's wait starts then, and when the model
expects to answer later than that wait, the filler is said at once (``make demo``'s tool
turn: first audio 2.6 s -> 0.55 s, docs/tools.md)."""

from __future__ import annotations

from collections.abc import Sequence

from pipecat.frames.frames import Frame, FunctionCallInProgressFrame, TTSSpeakFrame
from pipecat.tests.utils import SleepFrame, run_test

from voicebot import tool
from voicebot.tools.caller import ToolCaller
from voicebot.tools.frames import ToolChosenFrame, ToolDroppedFrame


def caller_with_filler_after(secs: float) -> ToolCaller:
    @tool(filler_after_secs=secs)
    def hours(day: str) -> str:
        """Opening hours on a day."""
        return "closed"

    return ToolCaller([hours])


def in_progress(call_id: str) -> FunctionCallInProgressFrame:
    return FunctionCallInProgressFrame(
        function_name="hours", tool_call_id=call_id, arguments={"day": "sunday"}
    )


def spoken_before_the_call(down: Sequence[Frame]) -> list[str]:
    """The words said before the call's in-progress frame went by."""
    said = []
    for f in down:
        if isinstance(f, FunctionCallInProgressFrame):
            return said
        if isinstance(f, TTSSpeakFrame):
            said.append(f.text)
    raise AssertionError("the call never started")


async def test_a_model_that_will_answer_late_gets_the_filler_at_the_choice() -> None:
    caller = caller_with_filler_after(30.0)  # a wait these tests never reach
    down, _ = await run_test(
        caller,
        frames_to_send=[
            ToolChosenFrame("c1", "hours", answer_in_secs=60.0),
            SleepFrame(1.0),  # the arguments being written
            in_progress("c1"),
        ],
    )
    assert spoken_before_the_call(down) == ["One moment."]
    assert [(u.kind, u.text) for u in caller.said] == [("filler", "One moment.")]
    # The choice is the tool caller's own news: it goes no further down the pipeline.
    assert not any(isinstance(f, (ToolChosenFrame, ToolDroppedFrame)) for f in down)


async def test_without_an_estimate_the_filler_waits_its_time_from_the_choice() -> None:
    """Counted from the choice, the 0.2 s wait ends while the arguments are written (1 s);
    counted from the call's start, the filler would come after it."""
    caller = caller_with_filler_after(0.2)
    down, _ = await run_test(
        caller,
        frames_to_send=[ToolChosenFrame("c1", "hours"), SleepFrame(1.0), in_progress("c1")],
    )
    assert spoken_before_the_call(down) == ["One moment."]
    assert len(caller.said) == 1  # and not again when the call starts


async def test_a_quick_answer_gets_no_filler_at_the_choice() -> None:
    caller = caller_with_filler_after(30.0)
    await run_test(
        caller,
        frames_to_send=[
            ToolChosenFrame("c1", "hours", answer_in_secs=0.5),
            SleepFrame(0.5),
            in_progress("c1"),
        ],
    )
    assert caller.said == []


async def test_a_dropped_choice_gets_no_filler() -> None:
    caller = caller_with_filler_after(0.2)
    await run_test(
        caller,
        frames_to_send=[ToolChosenFrame("c1", "hours"), ToolDroppedFrame("c1"), SleepFrame(0.8)],
    )
    assert caller.said == []
