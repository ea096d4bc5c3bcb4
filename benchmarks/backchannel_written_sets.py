"""The written backchannel sets of session 19 for ``bench_backchannel`` (``--set fresh3`` or
``--set fresh4``): backchannels and short interruptions spoken by the Piper voice, a click
and a cough, and Asterisk barge-ins no earlier set used.

Both lists were written by helpers that saw no code, no docs and no earlier set (asked for
18 backchannels callers say while a phone bot talks and 10 short interruptions).
- ``fresh3``: its lists were read before the session-19 vocabulary was written, so it is a
  **tuning set** for that vocabulary (``DEFAULT_BACKCHANNELS``' second block).
- ``fresh4``: written straight to ``backchannel_fresh4.json`` and not read until the policy
  was committed and the set run once: the held-out set.
- ``fresh5``: for the first sound's rise rule (``BargeIn.first_sound_rise_db``), chosen on
  ``benchmarks/first_sound_rise.py``'s prompts: 16 Asterisk barge-ins no earlier set used
  (seed 21), with fresh4's backchannels, the click and the cough to count false stops.
- ``fresh6``: written like fresh4 (``backchannel_fresh6.json``, not read before its run)
  after the review's changes to the policy and the rise, to check the final code once.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent

FRESH3_BACKCHANNELS = (
    "Mm-hmm.", "Uh-huh.", "Yeah, yeah.", "Okay.", "Right, okay.", "Got it.", "I see.",
    "Sure, sure.", "Yep.", "Okay, great.", "Alright, thank you.", "Perfect.", "Gotcha.",
    "Lovely.", "Aye.", "Sounds good.", "Oh, nice.", "Yes, go on.",
)  # fmt: skip
FRESH3_INTERRUPTIONS = (
    "Wait.", "Hold on a second.", "Sorry, what?", "No, that's wrong.", "Stop, please.",
    "Hang on, that's not right.", "Can I ask something?", "Excuse me.",
    "Actually, I meant Tuesday.", "Wait, how much?",
)  # fmt: skip
FRESH4_FILE = HERE / "backchannel_fresh4.json"
FRESH6_FILE = HERE / "backchannel_fresh6.json"
#: Seeds for the Asterisk barge-ins of each set, and how many.
SEEDS = {"fresh3": 19, "fresh4": 20, "fresh5": 21, "fresh6": 22}
ASTERISK_PER_SET = {"fresh3": 6, "fresh4": 6, "fresh5": 16, "fresh6": 6}


def phrases(name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(backchannels, interruptions) of set ``name``."""
    if name == "fresh3":
        return FRESH3_BACKCHANNELS, FRESH3_INTERRUPTIONS
    if name in ("fresh4", "fresh5", "fresh6"):
        d = json.loads((FRESH6_FILE if name == "fresh6" else FRESH4_FILE).read_text())
        return tuple(d["backchannels"]), tuple(d["interruptions"]) if name != "fresh5" else ()
    raise ValueError(f"no written set {name!r}: {', '.join(SEEDS)}")


def events(name: str, event: Any, earlier: list[Any], sounds: Path) -> list[Any]:
    """Set ``name`` as ``event(kind, text, secs, source)`` objects. Asterisk prompts 0.4-2.5 s
    long, drawn with the set's seed from those ``earlier`` (events of every earlier set, and
    the prompts already excluded by the caller) did not use, nor any earlier written set."""
    from voicebot.audio import read_wav

    backchannels, interruptions = phrases(name)
    out = [event("backchannel", t, 0, f"piper:{t}") for t in backchannels]
    out += [event("noise", "", 0, "noise:click"), event("noise", "", 0, "noise:cough")]
    out += [event("barge_in", t, 0, f"piper:{t}") for t in interruptions]
    used = {e.source.partition(":")[2] for e in earlier}
    for before in list(SEEDS)[: list(SEEDS).index(name)]:
        used |= {e.source.partition(":")[2] for e in events(before, event, earlier, sounds)}
    files = sorted(sounds.glob("*.wav"))
    if name in ("fresh5", "fresh6"):  # nor the prompts the rise rule was chosen on
        from benchmarks.first_sound_rise import PROMPT_SETS

        for seed, count, _ in PROMPT_SETS.values():
            used |= {f.name for f in random.Random(seed).sample(files, count)}
    pool = [f for f in files if f.name not in used]
    drawn = 0
    for f in random.Random(SEEDS[name]).sample(pool, len(pool)):
        if 0.4 <= read_wav(f).duration_secs <= 2.5:
            out.append(event("barge_in", f.stem, 0, f"asterisk:{f.name}"))
            drawn += 1
        if drawn == ASTERISK_PER_SET[name]:
            break
    return out
