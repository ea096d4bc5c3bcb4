"""The in-process model writes a reply's first clause on two threads, the rest on one, and
drops to one at once beside other work (``voicebot.providers.local.llama_cores``).

The clock is the test's: token times are given, not measured, so a busy machine cannot
change what these tests see."""

from __future__ import annotations

from typing import Any

import pytest

from voicebot.providers.local.llama_cores import CONTENDED_REPLIES, GenerationThreads


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(
    single: float = 0.06, busy: list[bool] | None = None
) -> tuple[GenerationThreads, Clock, list[tuple[int, int]]]:
    """Threads with a test clock, recording every change; ``busy[0]``: another task runs."""
    clock = Clock()
    machine = busy if busy is not None else [False]
    applied: list[tuple[int, int]] = []

    def apply(_llama: Any, threads: int, batch: int) -> None:
        applied.append((threads, batch))

    made = GenerationThreads(
        object(),
        threads=1,
        burst_threads=2,
        batch_threads=2,
        single_secs=single,
        clock=clock,
        apply=apply,
        busy=lambda _threads: machine[0],
    )
    return made, clock, applied


def write(made: GenerationThreads, clock: Clock, pieces: list[tuple[float, str]]) -> Any:
    """One reply: ``pieces`` as (seconds since the previous piece, text), each let through
    to the TTS as it comes."""
    with made.reply() as plan:
        for gap, text in pieces:
            clock.now += gap
            plan.token()
            plan.said(text)
    return plan


def test_the_first_clause_is_written_on_two_threads_then_one() -> None:
    made, clock, applied = make()
    with made.reply() as plan:
        assert applied[-1] == (2, 2)
        clock.now += 0.3
        plan.token()  # after the prompt: not a token's time
        plan.said("Sure")
        for text in [",", " the", " library", " opens", " at", " nine", ",", " and"]:
            assert applied[-1] == (2, 2)
            clock.now += 0.037
            plan.token()
            plan.said(text)
        clock.now += 0.037
        plan.token()  # the first token after the TTS got its clause
        assert plan.burst_end == "first clause"
        assert applied[-1] == (1, 2)
    assert applied[-1] == (1, 2)


def test_words_the_guard_holds_back_keep_two_threads() -> None:
    made, clock, applied = make()
    with made.reply() as plan:
        clock.now += 0.3
        plan.token()
        for _text in ["Mr", ".", " John", " Dash", "wood", " was", ","]:
            clock.now += 0.037
            plan.token()  # written, not yet said: the guard holds an echo's opening
        assert plan.bursting
        plan.said("Mr. John Dashwood was, ")
        clock.now += 0.037
        plan.token()
        assert plan.burst_end == "first clause"
        assert applied[-1] == (1, 2)


def test_a_slow_token_on_two_threads_drops_to_one_for_this_and_the_next_replies() -> None:
    made, clock, applied = make()
    plan = write(made, clock, [(0.3, "We"), (0.037, " are"), (0.15, " open")])
    assert plan.burst_end == "contended"
    assert applied[-1] == (1, 1)  # the prompt too: its threads wait for each other alike
    for _ in range(CONTENDED_REPLIES):
        with made.reply() as calm:
            assert applied[-1][0] == 1
            assert not calm.bursting
            assert calm.no_burst == "after contention"
    with made.reply() as again:
        assert again.bursting
        assert applied[-1] == (2, 2)


def test_steady_mild_slowness_counts_after_three_pieces_and_one_held_piece_does_not() -> None:
    made, clock, _ = make(single=0.06)
    # One piece holding two tokens (a possible stop sequence held back) is under 1.5 tokens.
    held = write(made, clock, [(0.3, "A"), (0.074, " b"), (0.037, " c"), (0.037, " d")])
    assert held.burst_end == ""
    mild = write(made, clock, [(0.3, "A"), (0.07, " b"), (0.07, " c"), (0.07, " d")])
    assert mild.burst_end == "contended"


def test_the_one_thread_token_time_follows_calm_replies_only() -> None:
    made, clock, _ = make(single=0.06)
    # the first clause on two threads, then one-thread tokens of 70 ms
    clause = [(0.3, "Yes"), (0.037, " it"), (0.037, " is"), (0.037, ","), (0.037, " and")]
    plan = write(made, clock, clause + [(0.07, " w")] * 6)
    assert plan.burst_end == "first clause"
    assert made.single_secs == pytest.approx(0.06 + 0.2 * (0.07 - 0.06))
    # a contended reply's one-thread tokens (another process busy) are not taken in
    before = made.single_secs
    plan = write(made, clock, [(0.3, "A"), (0.2, " b")] + [(0.12, " w")] * 6)
    assert plan.burst_end == "contended"
    assert made.single_secs == before


def test_no_burst_when_burst_threads_is_threads() -> None:
    made, clock, applied = make()
    made.burst_threads = 1
    plan = write(made, clock, [(0.3, "A"), (0.5, " b")])
    assert not plan.bursting and plan.burst_end == ""
    assert all(threads == 1 for threads, _ in applied)


def test_a_reply_starting_while_another_task_runs_starts_on_one_thread() -> None:
    machine = [True]
    made, _clock, applied = make(busy=machine)
    with made.reply() as plan:
        assert applied[-1] == (1, 1)  # the prompt on one thread too
        assert not plan.bursting and plan.no_burst == "busy"
    machine[0] = False  # no cool-down: the next reply on an idle machine bursts
    with made.reply() as plan:
        assert plan.bursting and applied[-1] == (2, 2)


def test_others_running_reads_the_running_task_count(monkeypatch: pytest.MonkeyPatch) -> None:
    from voicebot.providers.local import llama_cores

    monkeypatch.setattr(llama_cores.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(llama_cores, "_own_running_threads", lambda: 1)  # the reader
    counts = iter([2, 1, 2])  # this thread, and a moment of another: the least counts
    monkeypatch.setattr(llama_cores, "_running_tasks", lambda: next(counts))
    assert not llama_cores.others_running(2)
    monkeypatch.setattr(llama_cores, "_running_tasks", lambda: 2)  # a busy core beside
    assert llama_cores.others_running(2)
    assert not llama_cores.others_running(1)
    # this process's own threads still spinning down after their work are not others
    monkeypatch.setattr(llama_cores, "_own_running_threads", lambda: 2)
    assert not llama_cores.others_running(2)

    def unreadable() -> int:
        raise OSError("no /proc here")

    monkeypatch.setattr(llama_cores, "_running_tasks", unreadable)
    assert not llama_cores.others_running(2)  # then the slow-token watch decides alone


def test_the_burst_is_capped_by_the_cores_this_process_may_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from voicebot.providers.local import llama_cores

    monkeypatch.setattr(llama_cores, "available_cores", lambda: 1)  # pinned to one CPU
    monkeypatch.setattr(llama_cores, "token_secs", lambda *_a, **_k: 0.06)
    monkeypatch.setattr(llama_cores, "set_threads", lambda *_a: None)
    made = GenerationThreads.calibrated(object(), threads=1)
    assert made.burst_threads == 1 and not made.can_burst


def test_this_process_counts_its_running_threads() -> None:
    from voicebot.providers.local.llama_cores import _own_running_threads

    assert _own_running_threads() >= 1  # at least the thread asking (Linux /proc)
