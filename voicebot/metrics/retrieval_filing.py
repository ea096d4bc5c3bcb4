"""Which turn a retrieval outcome belongs to (``TurnRecord.retrieval``), for ``TurnLog``.

The retrieval stage files its record while it holds the turn's context frame, so the
conversation state's turn id at that moment is the record's turn. The user aggregator
reports that turn at about the same time, in either order, so a record may come before its
turn is recorded: it waits for it. The words searched are checked against the turn's: a
record held past the end of the next turn (its id one too new) goes to the turn before,
whose words it searched; a record whose words match neither goes to the next turn, as
records did before turns had ids.
"""

from __future__ import annotations

from loguru import logger

from voicebot.knowledge.record import RetrievalRecord
from voicebot.metrics.records import TurnRecord


class RetrievalFiling:
    """One session's retrieval records on their way to their turns."""

    def __init__(self) -> None:
        #: Records whose turn is not recorded yet, by the turn id they were filed at.
        self._waiting: dict[int, RetrievalRecord] = {}

    def file(self, turns: list[TurnRecord], record: RetrievalRecord, turn_id: int) -> None:
        """``record`` was filed while the state's turn was ``turn_id``."""
        last = turns[-1].index if turns else -1
        if turn_id > last:
            self._waiting[turn_id] = record  # its turn is not recorded yet
        elif not _place(turns, record, turn_id):
            self._waiting[last + 1] = record  # words unlike its turn's: the next turn's

    def turn_opened(self, turns: list[TurnRecord]) -> None:
        """``turns[-1]`` was just recorded: give it (or the turn before) what waited for it."""
        index = turns[-1].index
        waiting = sorted(i for i in self._waiting if i <= index)
        if not waiting:
            return
        own = index if index in waiting else waiting[-1]  # its own, else the latest left
        found = self._waiting.pop(own)
        if not _place(turns, found, index):
            turns[-1].retrieval = found  # words unlike any: filed for this turn, so this turn's
        for stale in waiting:
            if stale != own:
                dropped = self._waiting.pop(stale)
                logger.debug(f"voicebot: retrieval of [{dropped.query}] matched no turn")


def _place(turns: list[TurnRecord], record: RetrievalRecord, turn_id: int) -> bool:
    """Put ``record`` on turn ``turn_id``, or the turn before, whichever searched its words."""
    for turn in reversed(turns):
        if turn.index < turn_id - 1:
            break
        if (
            turn.index <= turn_id
            and turn.retrieval is None
            and same_words(turn.user_text, record.query)
        ):
            turn.retrieval = record
            return True
    return False


def same_words(user_text: str, query: str) -> bool:
    """Whether a retrieval query was made from this user text (a short follow-up's query
    also carries the previous turn's words in front)."""
    words = user_text.lower().split()
    return bool(words) and query.lower().split()[-len(words) :] == words
