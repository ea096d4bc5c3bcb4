"""How many cores the in-process model writes a reply on: two until the first clause, then one.

Why: on the 2-core VM the 0.5B model writes 16.7 tokens/s on one thread and 26.8 on two
(``python benchmarks/llama_first_clause.py``). Until the first clause is written nothing else
in the call needs a core (Whisper and the turn model are done, Piper has nothing to say yet),
so the first clause, which the caller waits for, is written on two. Then Piper synthesizes
beside the model, and a model on two threads beside it falls to 7.9 tokens/s (its threads
wait for each other at every step while one of them waits for a core): from there it writes
on one. Another process keeping a core busy does the same to two threads (6.4 tokens/s), so a
reply does not start on two when another process is running as it starts
(``others_running``),
and a two-thread piece slower than 1.5 one-thread tokens, or three averaging slower than one
(the one-thread time measured at load and kept up to date from calm replies), drops the
reply to one thread at once and the next replies start on one (``CONTENDED_REPLIES``), the
prompt too. Tool arguments are written on two threads when the machine is idle (no watch
per token there: they are not streamed). The thread count changes between tokens through
llama.cpp's public ``llama_set_n_threads``.
"""

from __future__ import annotations

import itertools
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from voicebot.text.clauses import first_piece_written

#: After a reply whose two-thread tokens were slower than one thread's, this many replies
#: are written on one thread before two are tried again.
CONTENDED_REPLIES = 3
#: A single piece this many one-thread tokens long ends the two-thread start.
SLOW_PIECE = 1.5
#: The one-thread token time follows the replies' own tokens this fast (0..1).
FOLLOW = 0.2


def set_threads(llama: Any, threads: int, batch_threads: int) -> None:
    """Change the threads a loaded ``llama_cpp.Llama`` decodes with (takes effect at the
    next evaluation)."""
    import llama_cpp

    llama_cpp.llama_set_n_threads(llama.ctx, threads, batch_threads)


def token_secs(llama: Any, threads: int, batch_threads: int, tokens: int = 8) -> float:
    """The median time of one generated token on ``threads`` (a short fixed completion)."""
    set_threads(llama, threads, batch_threads)
    stamps: list[float] = []
    for _chunk in llama.create_completion(
        "Count to twenty: 1, 2, 3, 4,", max_tokens=tokens, temperature=0.0, stream=True
    ):
        stamps.append(time.perf_counter())
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    return statistics.median(gaps) if gaps else 0.0


def others_running(threads: int, *, looks: int = 3) -> bool:
    """Whether other processes' running tasks leave fewer than ``threads`` cores for this
    reply, in each of ``looks`` reads of Linux's ``/proc/loadavg`` (its running-task count,
    host-wide like ``os.cpu_count()``), less this process's own running threads; False where
    it cannot be read. The least of the reads ignores a task that runs for an instant.

    Why this process's threads do not count: as a reply starts, the threads of the
    transcriber and the turn model that just finished (OpenMP, onnxruntime) are still
    spinning for a moment; counted, they ruled 11 of 12 replies "busy" in
    ``benchmarks/offline_latency.py``. Another call's work in the same process
    (``--calls-per-worker 2``) is left to the slow-token watch."""
    cores = os.cpu_count() or 1
    try:
        others = min(_running_tasks() - _own_running_threads() for _ in range(looks))
    except (OSError, ValueError, IndexError):
        return False
    return cores - max(0, others) < threads


def _running_tasks() -> int:
    with open("/proc/loadavg", encoding="ascii") as f:
        return int(f.read().split()[3].split("/")[0])


def _own_running_threads() -> int:
    running = 0
    for stat in Path("/proc/self/task").glob("*/stat"):
        try:
            text = stat.read_text(encoding="ascii", errors="replace")
        except OSError:  # the thread ended meanwhile
            continue
        running += text[text.rindex(")") + 2 :].startswith("R")
    return running


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), not the host's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class ReplyThreads:
    """One reply's thread plan. The model's thread calls ``token()`` after each generated
    piece; the event loop calls ``said(text)`` with each piece of the reply it lets through to
    the TTS (the reply guard may hold the opening words back), so two threads write until the
    TTS has its first clause, not merely until the model wrote one."""

    def __init__(self, owner: GenerationThreads, clock: Callable[[], float]):
        self._owner = owner
        self._clock = clock
        self._burst = False
        self._last: float | None = None
        self._said = ""
        self._spoken = threading.Event()
        self._single_gaps: list[float] = []
        self._burst_gaps: list[float] = []
        #: How the reply ended its two-thread start: "first clause", "contended" or "" (none).
        self.burst_end = ""
        #: Why it did not start on two threads: "busy" (another task was running),
        #: "after contention" (``CONTENDED_REPLIES``) or "" (it did, or cannot).
        self.no_burst = ""

    @property
    def bursting(self) -> bool:
        return self._burst and not self.burst_end

    def begin(self, *, burst: bool, no_burst: str = "") -> None:
        self._burst = burst
        self.no_burst = no_burst

    def said(self, text: str) -> None:
        """On the event loop: ``text`` went on to the TTS."""
        if not self._spoken.is_set():
            self._said += text
            if first_piece_written(self._said):
                self._spoken.set()

    def token(self) -> None:
        """On the model's thread: a piece was generated (its time decides)."""
        now = self._clock()
        last, self._last = self._last, now
        if last is None:  # the first piece came after the prompt: not a token's time
            return
        gap = now - last
        if not self.bursting:
            self._single_gaps.append(gap)
            return
        if self._spoken.is_set():  # the TTS starts: this token may have met it already
            self._end_burst("first clause")
            return
        self._burst_gaps.append(gap)
        single = self._owner.single_secs
        # One piece may hold two tokens (llama-cpp-python holds back a possible stop
        # sequence's start), so one slow piece counts only well past a one-thread token;
        # steady slowness counts once three pieces show it.
        slow = gap > SLOW_PIECE * single or (
            len(self._burst_gaps) >= 3 and statistics.fmean(self._burst_gaps) > single
        )
        if slow:
            self._end_burst("contended")

    def _end_burst(self, why: str) -> None:
        self.burst_end = why
        self._owner.after_burst(contended=why == "contended")

    def single_gaps(self) -> list[float]:
        return self._single_gaps


class GenerationThreads:
    """A loaded model's thread counts: ``threads`` after the first clause, ``burst_threads``
    before it while the cores are free (``reply()``)."""

    def __init__(
        self,
        llama: Any,
        *,
        threads: int,
        burst_threads: int,
        batch_threads: int,
        single_secs: float = 0.0,
        clock: Callable[[], float] = time.perf_counter,
        apply: Callable[[Any, int, int], None] | None = None,
        busy: Callable[[int], bool] | None = None,
    ) -> None:
        self._llama = llama
        self.threads = threads
        self.burst_threads = burst_threads
        self.batch_threads = batch_threads
        #: One token's time on ``threads``; a two-thread token slower than this is contended.
        self.single_secs = single_secs
        self._clock = clock
        self._apply = apply or set_threads
        self._busy = busy or others_running
        self._contended_left = 0
        self._current: tuple[int, int] | None = None

    @classmethod
    def calibrated(
        cls, llama: Any, *, threads: int, burst_threads: int | None = None
    ) -> GenerationThreads:
        """Measure one token on ``threads``; bursts on ``burst_threads`` (default two, at most
        the machine's cores). Whether two threads pay is found per reply, not here: a
        measurement at load beside other work would rule them out for the process's life."""
        cores = available_cores()
        burst = min(burst_threads if burst_threads is not None else 2, cores)
        batch = max(threads, min(4, cores))
        made = cls(llama, threads=threads, burst_threads=max(burst, threads), batch_threads=batch)
        made.single_secs = token_secs(llama, threads, batch)
        made._set(threads, batch)
        return made

    @property
    def can_burst(self) -> bool:
        return self.burst_threads > self.threads and self.single_secs > 0

    def _set(self, threads: int, batch: int) -> None:
        if self._current != (threads, batch):
            self._apply(self._llama, threads, batch)
            self._current = (threads, batch)

    def after_burst(self, *, contended: bool) -> None:
        if contended:
            self._contended_left = CONTENDED_REPLIES
        self._set(self.threads, self._batch())

    def _batch(self) -> int:
        # Beside other work the prompt's threads wait for each other as the tokens' do.
        return self.threads if self._contended_left else self.batch_threads

    def next_reply_bursts(self) -> bool:
        """Whether the next reply may start on ``burst_threads`` (if the machine is idle)."""
        return self.can_burst and not self._contended_left

    def plan(self) -> ReplyThreads:
        """A plan for the next reply, made before it is queued (``said`` may come first)."""
        return ReplyThreads(self, self._clock)

    @contextmanager
    def reply(self, plan: ReplyThreads | None = None) -> Iterator[ReplyThreads]:
        """Run one reply (on the model's thread) by ``plan``; afterwards the model is back
        on ``threads``."""
        plan = plan or self.plan()
        burst = self.next_reply_bursts()
        no_burst = ""
        if self.can_burst and not burst:
            no_burst = "after contention"
        elif burst and self._busy(self.burst_threads):
            burst, no_burst = False, "busy"
        plan.begin(burst=burst, no_burst=no_burst)
        # Beside another task the prompt's threads wait for each other as the tokens' do.
        batch = self.threads if no_burst == "busy" else self._batch()
        self._contended_left = max(0, self._contended_left - 1)
        self._set(self.burst_threads if burst else self.threads, batch)
        try:
            yield plan
        finally:
            gaps = plan.single_gaps()
            # Only an idle machine's tokens: beside other work one thread is slow too, and
            # the slow-token watch would stay lenient after the load went.
            calm = not plan.no_burst and plan.burst_end != "contended"
            if gaps and calm and self.single_secs > 0:
                seen = statistics.median(gaps)
                self.single_secs += FOLLOW * (seen - self.single_secs)
            self._set(self.threads, self._batch())

    def describe(self) -> dict[str, Any]:
        return {
            "threads": self.threads,
            "burst_threads": self.burst_threads,
            "batch_threads": self.batch_threads,
            "single_token_ms": round(self.single_secs * 1000, 1),
        }
