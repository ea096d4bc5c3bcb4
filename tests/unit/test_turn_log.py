"""TurnLog takes turn ids and texts from the conversation state: fed frames and aggregator
events by hand, through a ConversationFeed, in the order a session would see them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from pipecat.frames.frames import (
    Frame,
    InterruptionFrame,
    LLMContextAssistantTurnFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSSpeakFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.observers.base_observer import FramePushed
from pipecat.processors.aggregators.llm_response_universal import (
    AssistantTurnStoppedMessage,
    UserTurnStoppedMessage,
)
from pipecat.processors.frame_processor import FrameDirection

from voicebot.conversation import ConversationFeed, ConversationState
from voicebot.knowledge import RetrievalRecord
from voicebot.metrics.turn_log import TurnLog

DOWN = FrameDirection.DOWNSTREAM


class Aggregator:
    """Stands in for a context aggregator: keeps the handlers TurnLog registers."""

    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}

    def add_event_handler(self, name: str, handler: Any) -> None:
        self.handlers[name] = handler


class Node:
    """Stands in for the processor a frame is pushed from (Pipecat's observers name it)."""

    name = "Node#0"


class Session:
    """A TurnLog written by a feed, as ``voicebot.Session`` wires it."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0  # the wall clock the state dates utterances with
        self.state = ConversationState(wall_clock=lambda: self.now)
        self.feed = ConversationFeed(self.state)
        self.log = TurnLog()
        self.log.listen(self.feed)
        self.user, self.assistant = Aggregator(), Aggregator()
        self.log.attach(self.user, self.assistant)
        self._frames: list[Frame] = []  # the feed remembers frames weakly

    def push(self, frame: Frame) -> None:
        self._frames.append(frame)
        node = cast(Any, Node())
        self.feed.pushed(FramePushed(node, node, frame, DOWN, 0))

    async def caller(self, text: str, *, turn_end: bool = True) -> None:
        """The caller's turn is over: the aggregator's frame, then its event."""
        self.push(UserStartedSpeakingFrame())
        if turn_end:
            self.push(UserStoppedSpeakingFrame())
        message = UserTurnStoppedMessage(content=text, timestamp="")
        await self.user.handlers["on_user_turn_stopped"](self.user, None, message)

    def reply(self, text: str) -> None:
        self.push(LLMFullResponseStartFrame())
        for token in text.split(" "):
            self.push(LLMTextFrame(token if token == text.split(" ")[0] else f" {token}"))

    async def committed(
        self, text: str, *, interrupted: bool = False, started_at: float | None = None
    ) -> None:
        """The assistant aggregator commits a message: its event, then its frame (both
        before the event's handler task runs). ``started_at``: when the aggregator began
        the assistant turn (wall clock; Pipecat sends it as ISO 8601 to the millisecond)."""
        stamp = (
            datetime.fromtimestamp(started_at, UTC).isoformat(timespec="milliseconds")
            if started_at is not None
            else ""
        )
        message = AssistantTurnStoppedMessage(
            content=text, interrupted=interrupted, timestamp=stamp
        )
        handler = self.assistant.handlers["on_assistant_turn_stopped"]
        self.push(LLMContextAssistantTurnFrame(text=text, timestamp=stamp))
        await handler(self.assistant, message)


async def test_turn_ids_and_texts_across_a_greeting_two_turns_and_a_barge_in() -> None:
    s = Session()
    s.push(TTSSpeakFrame("Welcome to the shop."))
    await s.committed("Welcome to the shop.")
    await s.caller("When are you open?")
    s.reply("We open at nine. On Saturdays at ten.")
    s.push(InterruptionFrame())
    await s.committed("We open at nine. On —", interrupted=True)
    await s.caller("What about Sunday?")
    s.reply("Closed on Sunday.")
    await s.committed("Closed on Sunday.")
    await s.log.close()

    turns = s.log.turns
    assert [t.index for t in turns] == [0, 1, 2] and s.state.turn_id == 2
    greeting, cut, answered = turns
    assert greeting.user_text == "" and greeting.bot_text == greeting.said_text
    assert greeting.bot_text == "Welcome to the shop."
    assert cut.interrupted and cut.said_text == "We open at nine. On Saturdays at ten."
    assert cut.bot_text == "We open at nine. On —"
    assert cut.said_text.startswith(cut.bot_text.removesuffix(" —"))
    assert not answered.interrupted
    assert answered.bot_text == answered.said_text == "Closed on Sunday."
    assert all(t.completed_at is not None for t in turns)


async def test_a_reply_cut_after_the_callers_next_turn_ended_stays_with_its_turn() -> None:
    """The barge-in is ruled on the transcript, which may come after the turn strategy has
    ended the caller's turn: the cut reply's commit then arrives in the next turn, and is
    still the earlier turn's (its text, its interruption), not the new one's."""
    s = Session()
    await s.caller("When are you open?")
    s.now += 1.0
    s.reply("We open at nine. On Saturdays at ten.")
    first_started = s.now + 0.2  # the aggregator, at the pipeline's end, sees it later
    s.now += 2.0
    s.push(InterruptionFrame())
    await s.caller("What about Sunday?")
    s.now += 0.5
    s.reply("Closed on Sunday.")
    await s.committed("We open at nine. On —", interrupted=True, started_at=first_started)
    await s.committed("Closed on Sunday.", started_at=s.now + 0.2)
    await s.log.close()

    cut, answered = s.log.turns
    assert (cut.index, answered.index) == (1, 2)
    assert cut.interrupted and cut.bot_text == "We open at nine. On —"
    assert s.state.turn_by_id(1) is not None and s.state.turn_by_id(1).heard == cut.bot_text
    assert not answered.interrupted
    assert answered.bot_text == answered.said_text == "Closed on Sunday."


async def test_without_a_greeting_the_first_turn_is_turn_one() -> None:
    s = Session()
    await s.caller("Hello?")
    s.reply("Hi there.")
    await s.committed("Hi there.")
    await s.log.close()
    (turn,) = s.log.turns
    assert turn.index == 1 and turn.bot_text == turn.said_text == "Hi there."


async def test_words_flushed_at_the_end_without_a_turn_end_get_the_next_id() -> None:
    s = Session()
    await s.caller("Hello?")
    await s.caller("and one more thing", turn_end=False)  # the session ended mid-turn
    await s.log.close()
    assert [(t.index, t.user_text) for t in s.log.turns] == [
        (1, "Hello?"),
        (2, "and one more thing"),
    ]


def searched(query: str) -> RetrievalRecord:
    return RetrievalRecord(query, in_time=True, waited_secs=0.0, secs=0.01)


async def test_a_retrieval_record_filed_late_lands_on_the_turn_it_searched() -> None:
    s = Session()
    await s.caller("What are your hours?")
    await s.caller("Is there parking?")  # ended while the first turn's search was held
    record = searched("What are your hours?")
    s.log.add_retrieval(record)  # filed in turn 2, for turn 1's words
    await s.log.close()
    first, second = s.log.turns
    assert first.retrieval is record and second.retrieval is None


async def test_a_retrieval_record_before_its_turn_is_reported_waits_for_that_turn() -> None:
    s = Session()
    await s.caller("Yes.")  # a turn whose search found nothing to record
    s.push(UserStartedSpeakingFrame())
    s.push(UserStoppedSpeakingFrame())  # turn 2 has ended; its event has not come yet
    record = searched("Yes.")
    s.log.add_retrieval(record)
    message = UserTurnStoppedMessage(content="Yes.", timestamp="")
    await s.user.handlers["on_user_turn_stopped"](s.user, None, message)
    await s.log.close()
    first, second = s.log.turns
    # The same words, but the record was filed in turn 2: it is turn 2's.
    assert first.retrieval is None and second.retrieval is record


async def test_a_log_without_a_feed_counts_turns_and_takes_the_events_words() -> None:
    # A plain observer (``TurnLog.observers``) sees frames a queue hop after the events: it
    # numbers turns itself and keeps the assistant aggregator's words, as it always did.
    log = TurnLog()
    user, assistant = Aggregator(), Aggregator()
    log.attach(user, assistant)
    asked = UserTurnStoppedMessage(content="Hello?", timestamp="")
    await user.handlers["on_user_turn_stopped"](user, None, asked)
    said = AssistantTurnStoppedMessage(content="Hi there.", interrupted=False, timestamp="")
    await assistant.handlers["on_assistant_turn_stopped"](assistant, said)
    await log.close()
    (turn,) = log.turns
    assert (turn.index, turn.user_text, turn.bot_text) == (0, "Hello?", "Hi there.")
