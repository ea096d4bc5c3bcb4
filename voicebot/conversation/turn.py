"""One turn as the conversation state knows it: its id, what the bot said, what was heard.

Apart from ``state.py`` so that the state's frame handling stays readable; only
``ConversationState.apply`` writes a ``Turn``.
"""

from __future__ import annotations

from pipecat.utils.string import TextPartForConcatenation, concatenate_aggregated_text


class Turn:
    """One turn of the conversation (read it; ``ConversationState`` writes it).

    ``id`` 0 is the opening (a greeting, anything before the caller's first turn is over);
    each ``UserStoppedSpeakingFrame`` (the turn strategy ruling the caller's turn over)
    starts the next, so turn N holds the caller's Nth turn and the bot's answer to it.

    ``said`` is the text sent to be spoken in this turn (the LLM's text, ``TTSSpeakFrame``s),
    whole, whether or not it was played. ``heard`` is what the caller heard: the assistant
    messages the context aggregator committed in this turn (Pipecat's
    ``LLMContextAssistantTurnFrame``), which after a barge-in hold the heard-text stage's
    prefix and cut marker (``voicebot.processors.heard_text``), joined by spaces.
    """

    __slots__ = ("_heard", "_runs", "id", "started_at")

    def __init__(self, turn_id: int, started_at: float) -> None:
        self.id = turn_id
        #: ``ConversationState.clock()`` when the turn began.
        self.started_at = started_at
        # Text sent to be spoken, one run per utterance (an LLM response, a TTSSpeakFrame):
        # the parts of a run are joined the way Pipecat's aggregators join them, runs by a space.
        self._runs: list[list[TextPartForConcatenation]] = []
        self._heard: list[str] = []

    def __repr__(self) -> str:
        return f"Turn({self.id}, said={self.said!r}, heard={self.heard!r})"

    @property
    def said(self) -> str:
        """The text sent to be spoken this turn (see the class docstring)."""
        texts = (concatenate_aggregated_text(run) for run in self._runs)
        return " ".join(t for t in texts if t)

    @property
    def heard(self) -> str:
        """What the caller heard this turn (see the class docstring)."""
        return " ".join(self._heard)

    # ---- written by ConversationState.apply ------------------------------------------------

    def new_utterance(self) -> None:
        """What is said next is a new utterance (a new LLM response, a ``TTSSpeakFrame``)."""
        if not self._runs or self._runs[-1]:
            self._runs.append([])

    def say(self, text: str, includes_spaces: bool) -> None:
        if not self._runs:
            self._runs.append([])
        self._runs[-1].append(TextPartForConcatenation(text, includes_spaces))

    def hear(self, text: str) -> bool:
        text = text.strip()
        if text:
            self._heard.append(text)
        return bool(text)
