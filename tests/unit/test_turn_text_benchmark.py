"""benchmarks/turn_text_check.py's scoring, on hand-made stops (the short version of the
benchmark: its full runs take minutes and need Debian's recorded prompts)."""

from __future__ import annotations

from typing import Any

from benchmarks.turn_text_check import score_clips


def stop(*, complete: bool, p: float | None, quiet: float | None) -> dict[str, Any]:
    return {"complete": complete, "text_p": p, "quiet_after_secs": quiet}


ROWS = [
    # A real end smart-turn missed, words that end a sentence: the check saves the fallback.
    {"stops": [stop(complete=False, p=0.3, quiet=None)]},
    # A mid-sentence pause judged unfinished with words that pass, then more speech after
    # 0.4 s of quiet: cut off only if the wait is shorter than that quiet.
    {"stops": [stop(complete=False, p=0.2, quiet=0.4), stop(complete=True, p=0.5, quiet=None)]},
    # A real end nobody catches: waits the fallback.
    {"stops": [stop(complete=False, p=0.01, quiet=None)]},
    # Smart-turn's own cut-off: counted with or without the check.
    {"stops": [stop(complete=True, p=0.0, quiet=0.5), stop(complete=True, p=0.9, quiet=None)]},
]


def test_smart_turn_alone() -> None:
    got = score_clips(ROWS, None, 0.0)
    assert got["cut_off_pct"] == 25.0  # the last clip
    assert got["fallback_waits_pct"] == 50.0  # the first and third
    assert got["mean_added_delay_secs"] == round((2.0 + 0.0 + 2.0) / 3, 3)


def test_the_check_saves_the_fallback_and_cuts_off_pauses_shorter_than_its_wait_only() -> None:
    long_wait = score_clips(ROWS, 0.1, 0.5)  # the 0.4 s pause outlasts no 0.5 s wait
    assert long_wait["cut_off_pct"] == 25.0
    assert long_wait["fallback_waits_pct"] == 25.0
    short_wait = score_clips(ROWS, 0.1, 0.3)  # ... but a 0.3 s one
    assert short_wait["cut_off_pct"] == 50.0
