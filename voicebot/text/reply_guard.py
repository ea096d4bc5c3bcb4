"""Keep a small local model's streamed reply fit to be spoken: no echo, no loop, no rerun of
an earlier reply, not too long.

Small models (0.1–1.5 B parameters) sometimes start by repeating the caller's words, fall
into a loop ("The answer is "The answer is…"), say a sentence of an earlier reply of the call
again, or run on. ``ReplyGuard`` sits between the token stream and the TTS. It passes words
on as they come and holds back only a run of words that repeats something (the caller's
opening words at the start of the reply, the reply so far, an earlier reply); the run is
released as soon as it differs, and dropped when it grows long enough to be an echo, a loop
or a rerun. So a reply is delayed only where it repeats, by the few words of the repeat, and
a repeating one is cut before the caller hears the repeat. A rerun is a sentence that opens
with a long run of an earlier reply: it is dropped whole, and the reply goes on with the next
sentence (a phrase reused mid-sentence is spoken: dropping it would leave the caller a
sentence's head without its end). When the caller asks to hear the last answer again
(``asks_to_repeat``), earlier replies are not guarded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

_WORD = re.compile(r"\S+")
_SENTENCE_END = re.compile(r"[.!?…][\"')\]]*$")
_ASKS_TO_REPEAT = re.compile(
    r"\b(?:(?:say|repeat) (?:that|it|this|the last (?:part|bit)) again|say again|come again"
    r"|repeat (?:that|it|this|yourself|the answer)|one more time|pardon"
    r"|(?:didn't|did not|couldn't|could not) (?:catch|hear|get|understand) (?:that|it|you|what)"
    r"|what (?:was that|did you (?:just )?say))\b",
    re.IGNORECASE,
)


def asks_to_repeat(request: str) -> bool:
    """The caller asks to hear the last answer again ("Sorry, can you say that again?"):
    then a reply that repeats an earlier one is the right answer, not a fault."""
    return bool(_ASKS_TO_REPEAT.search(request))


def _norm(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())


def _words(text: str) -> list[str]:
    return [w for w in (_norm(x) for x in _WORD.findall(text)) if w]


def _contains(seq: list[str], run: list[str]) -> bool:
    n = len(run)
    return any(seq[i : i + n] == run for i in range(len(seq) - n + 1))


@dataclass
class ReplyGuard:
    """Streamed-text filter: ``feed(piece)`` returns what may be spoken now, ``finish()``
    the rest; ``stopped`` turns true when the reply should end (loop, or past the cap)."""

    request: str = ""
    #: The call's earlier replies (what the bot said before, oldest first).
    earlier: Sequence[str] = ()
    max_words: int = 40  # end at the first sentence end past this many words
    hard_max_words: int = 70  # end here even mid-sentence
    echo_words: int = 5  # a run this long copied from the request is an echo
    loop_words: int = 6  # a run this long copied from the reply itself is a loop
    rerun_words: int = 6  # a run this long copied from an earlier reply is a rerun (0: off)
    stopped: bool = False
    reason: str | None = None
    reruns: int = 0  # runs dropped as a rerun of an earlier reply
    _request: list[str] = field(default_factory=list, init=False)
    _earlier: list[list[str]] = field(default_factory=list, init=False)
    _skipping: bool = field(default=False, init=False)  # dropping a rerun's sentence to its end
    _sentence_start: bool = field(default=True, init=False)  # the next word opens a sentence
    _said: list[str] = field(default_factory=list, init=False)  # normalised words passed on
    _held: list[str] = field(default_factory=list, init=False)  # raw words held back
    _partial: str = field(default="", init=False)  # text after the last whole word
    _started: bool = field(default=False, init=False)
    _echoed: int = field(default=0, init=False)  # request words dropped as an echo so far

    @property
    def swallowed(self) -> bool:
        """Nothing was passed on and something was dropped: the whole reply was an echo of
        the caller or a rerun of an earlier reply, and the caller would hear silence."""
        return not self._said and (self._echoed > 0 or self.reruns > 0)

    def __post_init__(self) -> None:
        self._request = _words(self.request)
        if self.rerun_words > 0 and not asks_to_repeat(self.request):
            self._earlier = [w for w in (_words(r) for r in self.earlier) if w]

    def feed(self, piece: str) -> str:
        """Text that may go to the TTS now (possibly empty)."""
        if self.stopped:
            return ""
        text = self._partial + piece
        # The last word may be cut mid-token: keep it until whitespace follows.
        if text and not text[-1].isspace():
            cut = max(text.rfind(" "), text.rfind("\n"))
            complete, self._partial = (text[: cut + 1], text[cut + 1 :]) if cut >= 0 else ("", text)
        else:
            complete, self._partial = text, ""
        out: list[str] = []
        for word in complete.split():
            out.extend(self._word(word))
            if self.stopped:
                break
        return self._join(out)

    def finish(self) -> str:
        """What is left at the end of the stream (a last word, a held run that was fine)."""
        out: list[str] = []
        if not self.stopped and self._partial.strip():
            out.extend(self._word(self._partial.strip()))
        self._partial = ""
        if not self.stopped:
            out.extend(self._held)
        self._held = []
        self._said.extend(w for w in (_norm(x) for x in out) if w)  # spoken too
        return self._join(out)

    # ---- one word at a time ---------------------------------------------------------------

    def _word(self, word: str) -> list[str]:
        if self._skipping:  # the rest of a rerun's sentence
            self._skipping = not _SENTENCE_END.search(word)
            return []
        self._held.append(word)
        released: list[str] = []
        # Release words from the front of the held run until what is left still repeats
        # something (or nothing is left): the run is the longest repeating tail.
        while self._held and not self._repeats(
            [_norm(w) for w in self._held],
            opens_sentence=_SENTENCE_END.search(released[-1]) is not None
            if released
            else self._sentence_start,
        ):
            released.append(self._held.pop(0))
        for w in released:
            self._said.append(_norm(w))
        if released:
            self._sentence_start = _SENTENCE_END.search(released[-1]) is not None
        run = [_norm(w) for w in self._held]
        if run and self._is_echo(run):
            self._echoed += len(run)  # an echo of the caller: drop it (and what continues it)
            self._held = []
        elif run and self._is_loop(run):
            self._stop("loop")
            return released
        elif run and self._is_rerun(run):
            self.reruns += 1  # an earlier reply again: drop it and the rest of its sentence
            self._skipping = not _SENTENCE_END.search(self._held[-1])
            self._held = []
        sentence_done = bool(released) and bool(_SENTENCE_END.search(released[-1]))
        if len(self._said) >= self.hard_max_words or (
            sentence_done and len(self._said) >= self.max_words
        ):
            self._stop("length")
        return released

    def _continues_request(self, run: list[str]) -> bool:
        """The run goes on with the caller's words from where a dropped echo stopped (or
        from their first word): an echo starts the reply with the caller's own words; a reply
        that only restates part of the question ("The tallest mountain is...") does not."""
        start = self._echoed
        return not self._said and self._request[start : start + len(run)] == run

    def _repeats(self, run: list[str], *, opens_sentence: bool) -> bool:
        if not run[-1]:
            return False
        return (
            self._continues_request(run)
            or self._copies(run, self._said)
            or (opens_sentence and any(self._copies(run, reply) for reply in self._earlier))
        )

    def _copies(self, run: list[str], source: list[str]) -> bool:
        return len(run) <= len(source) and _contains(source, run)

    def _is_echo(self, run: list[str]) -> bool:
        if not self._request or self._said:
            return False  # only an opening copy of the request is an echo
        if not self._continues_request(run):
            return False
        if self._echoed:
            return True  # the rest of an echo already being dropped
        need = min(self.echo_words, len(self._request))
        # "Hi" answered with "Hi!" is a greeting, not an echo: short requests never count.
        return need >= 3 and len(run) >= need

    def _is_loop(self, run: list[str]) -> bool:
        return len(run) >= self.loop_words and _contains(self._said, run)

    def _is_rerun(self, run: list[str]) -> bool:
        """A sentence that opens with a long run of an earlier reply. Only at a sentence's
        start: a phrase reused mid-sentence is spoken, as the sentence's head already was
        (a head without its end is worse to hear than a phrase heard before)."""
        return (
            self._sentence_start
            and len(run) >= self.rerun_words
            and any(_contains(r, run) for r in self._earlier)
        )

    def _stop(self, reason: str) -> None:
        self.stopped, self.reason = True, reason
        self._held = []

    def _join(self, words: list[str]) -> str:
        if not words:
            return ""
        text = " ".join(words)
        if self._started:
            text = " " + text
        self._started = True
        return text
