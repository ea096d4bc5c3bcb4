"""ConversationState: the one derivation of who is speaking and what is owed, on a test clock."""

from __future__ import annotations

import asyncio

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    FunctionCallCancelFrame,
    FunctionCallFromLLM,
    FunctionCallResultFrame,
    FunctionCallsStartedFrame,
    InterruptionFrame,
    LLMContextAssistantTurnFrame,
    LLMContextFrame,
    LLMContextUserTurnFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMRunFrame,
    LLMTextFrame,
    OutputAudioRawFrame,
    TTSSpeakFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection

from voicebot.conversation import ConversationState

DOWN, UP = FrameDirection.DOWNSTREAM, FrameDirection.UPSTREAM


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def state() -> tuple[ConversationState, Clock]:
    clock = Clock()
    return ConversationState(clock=clock), clock


def calls(*ids: str) -> FunctionCallsStartedFrame:
    return FunctionCallsStartedFrame(
        function_calls=[
            FunctionCallFromLLM(
                function_name=f"f{i}", tool_call_id=i, arguments={}, context=LLMContext()
            )
            for i in ids
        ]
    )


def test_a_turn_from_the_callers_words_to_the_bots_last_audio() -> None:
    s, clock = state()
    output = object()
    s.output = output
    assert s.pending() is None and not s.user_speech_seen
    s.apply(VADUserStartedSpeakingFrame(), DOWN)
    s.apply(UserStartedSpeakingFrame(), DOWN)
    assert s.caller_has_floor and s.user_speech_seen
    assert s.pending() == "the caller's turn to end"
    s.apply(VADUserStoppedSpeakingFrame(), DOWN)
    clock.t = 101.0
    s.apply(UserStoppedSpeakingFrame(), DOWN)
    assert not s.caller_has_floor and s.user_turn_ended_at == 101.0
    s.apply(LLMContextUserTurnFrame(text="hi", timestamp=""), DOWN)
    assert s.answer_owed and s.pending() == "the LLM to start its answer"
    clock.t = 101.5
    s.apply(LLMFullResponseStartFrame(), DOWN)
    assert not s.answer_owed and s.responding_since == 101.5
    s.apply(LLMTextFrame("Hello"), DOWN)
    assert s.response_had_text and s.speech_pending_since == 101.5
    end = LLMFullResponseEndFrame()
    s.apply(end, DOWN, source=object())  # the LLM's push: the model is done
    assert s.responding_since is None
    assert s.pending() == "the LLM and TTS to finish the answer"  # its audio is not
    s.apply(BotStartedSpeakingFrame(), UP)
    assert s.bot_speaking and s.speech_pending_since is None
    s.apply(end, DOWN, source=output)  # the end has passed the output transport
    assert s.pending() == "the bot to stop speaking"
    clock.t = 103.0
    s.apply(BotStoppedSpeakingFrame(), UP)
    assert s.pending() is None and s.changed_at == 103.0


def test_an_interruption_drops_the_answer_under_way() -> None:
    s, _ = state()
    s.output = object()
    s.apply(LLMContextUserTurnFrame(text="hi", timestamp=""), DOWN)
    s.apply(LLMFullResponseStartFrame(), DOWN)
    s.apply(TTSSpeakFrame("one moment"), DOWN)
    s.apply(InterruptionFrame(), DOWN)
    assert s.interruptions == 1
    assert s.pending() is None
    assert s.responding_since is None and s.speech_pending_since is None


def test_tool_calls_are_in_flight_until_their_result_or_cancel() -> None:
    s, clock = state()
    s.apply(calls("a", "b"), DOWN)
    assert set(s.calls) == {"a", "b"} and s.calls["a"].started_at == clock.t
    assert s.pending() == "2 tool call(s) to finish"
    s.apply(FunctionCallCancelFrame(function_name="fa", tool_call_id="a"), DOWN)
    result = FunctionCallResultFrame(
        function_name="fb", tool_call_id="b", arguments={}, result="ok", run_llm=True
    )
    s.apply(result, DOWN)
    assert s.calls == {} and s.responding_since == clock.t  # the model runs next


def test_only_requests_to_the_model_count_upstream() -> None:
    s, _ = state()
    assert not s.apply(LLMContextFrame(context=LLMContext()), DOWN)  # a context after a reply
    assert not s.apply(UserStartedSpeakingFrame(), UP)  # a broadcast's upstream copy
    assert not s.apply(LLMContextFrame(context=LLMContext(), speculation=True), UP)
    assert s.pending() is None
    assert s.apply(LLMRunFrame(), DOWN)  # the assistant aggregator runs it
    assert s.answer_owed
    s2, _ = state()
    assert s2.apply(LLMContextFrame(context=LLMContext()), UP)
    assert s2.answer_owed


def test_frames_that_say_nothing_new_change_nothing() -> None:
    s, clock = state()
    before = s.changed_at
    clock.t += 5
    assert not s.apply(OutputAudioRawFrame(b"\0\0", 16000, 1), DOWN)
    assert not s.apply(BotStoppedSpeakingFrame(), UP)  # was not speaking
    assert not s.apply(LLMTextFrame("  "), DOWN)
    assert not s.apply(LLMFullResponseEndFrame(), DOWN)  # nothing was being answered
    assert s.changed_at == before


async def test_wait_change_wakes_on_a_change_and_times_out_without_one() -> None:
    s, _ = state()
    assert await s.wait_change(0.01) is False
    waiter = asyncio.ensure_future(s.wait_change(30))
    await asyncio.sleep(0)
    s.apply(BotStartedSpeakingFrame(), UP)
    assert await waiter is True


def test_a_result_held_back_by_the_tool_stage_is_still_owed() -> None:
    s, clock = state()
    output = object()
    s.output = output
    s.apply(calls("a"), DOWN)
    result = FunctionCallResultFrame(
        function_name="fa", tool_call_id="a", arguments={}, result="ok", run_llm=None
    )
    assert not s.apply(result, DOWN, source=object())  # the LLM's push: the caller may hold it
    assert s.pending() == "1 tool call(s) to finish"
    result.run_llm = True  # what the tool stage decided before it let the result go
    assert s.apply(result, DOWN, source=output)
    assert s.calls == {} and s.responding_since == clock.t


def heard(text: str) -> LLMContextAssistantTurnFrame:
    """What the assistant aggregator broadcasts when it commits a message."""
    return LLMContextAssistantTurnFrame(text=text, timestamp="")


def caller_turn(s: ConversationState) -> None:
    s.apply(UserStartedSpeakingFrame(), DOWN)
    s.apply(UserStoppedSpeakingFrame(), UP)  # the broadcast's upstream copy: no new turn
    s.apply(UserStoppedSpeakingFrame(), DOWN)


def reply(s: ConversationState, *tokens: str) -> None:
    s.apply(LLMFullResponseStartFrame(), DOWN)
    for token in tokens:
        s.apply(LLMTextFrame(token), DOWN)


def test_turn_ids_count_the_callers_turns_after_the_greeting() -> None:
    s, clock = state()
    assert s.turn_id == 0 and s.turn.started_at == 100.0
    s.apply(TTSSpeakFrame("Welcome to the shop."), DOWN)  # the greeting is turn 0
    s.apply(heard("Welcome to the shop."), DOWN)
    clock.t = 102.0
    caller_turn(s)
    assert s.turn_id == 1 and s.turn.started_at == 102.0
    reply(s, "We", " open", " at", " nine", ".", " Sundays", " we", " rest", ".")
    s.apply(InterruptionFrame(), DOWN)  # the caller cuts in: still turn 1 until it ends
    s.apply(heard("We open at nine. —"), DOWN)
    assert s.turn_id == 1
    caller_turn(s)
    reply(s, "Closed", " on", " Sunday", ".")
    s.apply(heard("Closed on Sunday."), DOWN)
    assert s.turn_id == 2
    greeting, first, second = (s.turn_by_id(i) for i in range(3))
    assert greeting is not None and greeting.said == greeting.heard == "Welcome to the shop."
    assert first is not None and first.said == "We open at nine. Sundays we rest."
    assert second is s.turn and second.said == second.heard == "Closed on Sunday."
    assert s.turn_by_id(3) is None


def test_last_heard_reaches_back_past_a_reply_cut_before_its_audio() -> None:
    s, _ = state()
    assert s.last_heard == ""
    s.apply(heard("Which month were you born in?"), DOWN)
    caller_turn(s)
    assert s.last_heard == "Which month were you born in?"  # turn 1's reply not heard yet
    reply(s, "Thanks", ".")
    s.apply(InterruptionFrame(), DOWN)  # cut before any audio: nothing committed as heard
    s.apply(heard(""), DOWN)
    assert s.turn.heard == "" and s.last_heard == "Which month were you born in?"
    caller_turn(s)
    reply(s, "And", " your", " name", "?")
    s.apply(heard("And your name?"), DOWN)
    assert s.last_heard == "And your name?"


def test_a_cut_reply_committed_in_the_next_turn_is_heard_in_its_own() -> None:
    """Pipecat dates the commit with the assistant turn's start (ISO 8601, ms): the turn of
    the latest utterance sent to be spoken by then."""
    from datetime import UTC, datetime

    wall = [1_800_000_000.0]
    s = ConversationState(clock=Clock(), wall_clock=lambda: wall[0])
    caller_turn(s)
    reply(s, "We", " open", " at", " nine", ".")
    started = datetime.fromtimestamp(wall[0] + 0.15, UTC).isoformat(timespec="milliseconds")
    wall[0] += 2.0
    s.apply(InterruptionFrame(), DOWN)
    caller_turn(s)  # the barge-in's words ended the caller's turn before the commit came
    reply(s, "Closed", ".")
    s.apply(LLMContextAssistantTurnFrame(text="We open —", timestamp=started), DOWN)
    first = s.turn_by_id(1)
    assert first is not None and first.heard == "We open —" and s.turn.heard == ""
    assert s.last_heard == "We open —"
    later = datetime.fromtimestamp(wall[0] + 0.1, UTC).isoformat(timespec="milliseconds")
    s.apply(LLMContextAssistantTurnFrame(text="Closed.", timestamp=later), DOWN)
    assert s.turn.heard == "Closed." and first.heard == "We open —"


def test_after_a_barge_in_what_was_heard_is_a_prefix_of_what_was_said() -> None:
    s, _ = state()
    caller_turn(s)
    s.apply(TTSSpeakFrame("One moment."), DOWN)  # a filler, then the answer
    reply(s, "We", " open", " at", " nine", ".")
    s.apply(heard("One moment."), DOWN)
    s.apply(InterruptionFrame(), DOWN)
    s.apply(heard("We open —"), DOWN)
    s.apply(heard("  "), DOWN)  # an empty commit adds nothing
    turn = s.turn
    assert turn.said == "One moment. We open at nine."
    assert turn.heard == "One moment. We open —"
    assert turn.said.startswith(turn.heard.removesuffix(" —")) and turn.heard != turn.said


def test_said_keeps_each_utterance_apart_and_leaves_out_text_not_for_speech() -> None:
    s, _ = state()
    reply(s, "Sure", ".")
    reply(s, "Okay", " ", "then", ".")  # a new response: not "Sure.Okay"
    unspoken = LLMTextFrame(" (internal)")
    unspoken.skip_tts = True
    s.apply(unspoken, DOWN)
    s.apply(LLMTextFrame(" More"), UP)  # only downstream text goes to be spoken
    assert s.turn.said == "Sure. Okay then."
    assert not s.apply(heard("Sure."), UP)  # the broadcast's upstream copy
    assert s.turn.heard == ""


def test_a_tool_call_carries_the_turn_it_was_made_in() -> None:
    s, _ = state()
    caller_turn(s)
    caller_turn(s)
    s.apply(calls("a"), DOWN)
    assert s.calls["a"].turn_id == 2
