"""Latency budgets a test can assert: "p95 voice-to-voice under 800 ms with these providers".

    from voicebot.testing import LatencyBudget, run_conversation

    conv = await run_conversation(bot, "tests/audio/caller.wav")
    LatencyBudget(p95_secs=0.8).check(conv)

A missed budget raises ``AssertionError`` whose message says which limit was missed and
shows every turn's voice-to-voice time and stages, so the slow stage is in the test output.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from voicebot.metrics.records import TurnRecord
from voicebot.metrics.stages import stage_label
from voicebot.metrics.stats import (
    LatencySummary,
    Measure,
    choose_measure,
    percentile,
    summarize,
    turn_table,
    voice_to_voice,
)


@dataclass(frozen=True)
class LatencyBudget:
    """Limits on voice-to-voice latency over a conversation's user turns.

    - ``p50_secs``, ``p95_secs``, ``max_secs``: limits on voice-to-voice (None: no limit).
    - ``stage_p95_secs``: p95 limits per stage key, e.g. ``{"llm_inference": 0.5}``
      (keys in ``voicebot.metrics.STAGES``).
    - ``measure``: ``"caller"`` (read off the caller's audio, recorded-caller runs only),
      ``"bot"`` (measured inside the bot), or ``"auto"``: caller when every measured turn
      has it, else bot.
    - ``min_turns``: fewer measured user turns than this fails, so a bot that never
      answered cannot pass by having no latency to judge.

    Percentiles interpolate between turns, so with few turns p95 is close to the slowest.
    """

    p50_secs: float | None = None
    p95_secs: float | None = None
    max_secs: float | None = None
    stage_p95_secs: Mapping[str, float] = field(default_factory=dict)
    measure: Measure = "auto"
    min_turns: int = 1

    def check(self, conversation: Any) -> LatencySummary:
        """Raise ``AssertionError`` with a per-turn table if a limit is missed; else return
        the summary. Takes a ``Conversation``, a ``Session``, or ``TurnRecord``s."""
        turns = _turns(conversation)
        user = [t for t in turns if t.user_text]
        chosen = choose_measure(user, self.measure)
        summary = summarize(user, chosen)
        missed: list[str] = []
        if summary.measured < self.min_turns:
            missed.append(
                f"{summary.measured} measured user turns (of {summary.turns}), "
                f"need at least {self.min_turns}"
            )
        for name, limit, value in (
            ("p50", self.p50_secs, summary.p50_secs),
            ("p95", self.p95_secs, summary.p95_secs),
            ("max", self.max_secs, summary.max_secs),
        ):
            if limit is not None and value is not None and value > limit:
                missed.append(f"{name} voice-to-voice {value:.3f}s > budget {limit:.3f}s")
        for key, limit in self.stage_p95_secs.items():
            timed = [t for t in user if t.voice_to_voice_secs is not None]
            value = percentile([t.stages.get(key, 0.0) for t in timed], 95)
            if value is not None and value > limit:
                missed.append(f"{stage_label(key)} ({key}) p95 {value:.3f}s > budget {limit:.3f}s")
        if missed:
            raise AssertionError(self._message(missed, user, chosen, summary))
        return summary

    def _message(
        self,
        missed: list[str],
        user: list[TurnRecord],
        chosen: Literal["caller", "bot"],
        summary: LatencySummary,
    ) -> str:
        limits = [x for x in (self.p95_secs, self.max_secs, self.p50_secs) if x is not None]
        flag = min(limits) if limits else None
        how = "read off the caller's audio" if chosen == "caller" else "measured inside the bot"
        lines = [
            f"latency budget missed ({summary.measured} user turns, voice-to-voice {how}):",
            *(f"  - {m}" for m in missed),
            "",
            turn_table(user, chosen, flag=flag),
        ]
        if flag is not None:
            over = [
                n
                for n, t in enumerate(user, 1)
                if (v := voice_to_voice(t, chosen)) is not None and v > flag
            ]
            if over:
                lines.append(f"(! = over {flag:.3f}s: turn {', '.join(map(str, over))})")
        if summary.stage_p95_secs:
            worst = sorted(summary.stage_p95_secs.items(), key=lambda kv: -kv[1])[:3]
            lines.append(
                "largest stages at p95: "
                + ", ".join(f"{stage_label(k)} {v:.3f}s" for k, v in worst)
            )
        return "\n".join(lines)


def _turns(conversation: Any) -> list[TurnRecord]:
    turns = getattr(conversation, "turns", conversation)
    if isinstance(turns, Iterable):
        found = list(turns)
        if all(isinstance(t, TurnRecord) for t in found):
            return found
    raise TypeError(
        f"LatencyBudget.check takes a Conversation, a Session or TurnRecords, not "
        f"{type(conversation).__name__}"
    )
