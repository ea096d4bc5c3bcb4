"""The events of ``bench_backchannel``'s sets: what the caller says or does over the bot
(backchannels, noises, barge-ins), and each event's audio (the Piper voice, shaped noise,
Asterisk's recorded prompts). Apart from the benchmark so that it reads as a runner."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import IN_RATE


@dataclass(frozen=True)
class Event:
    kind: str  # "backchannel", "noise", "barge_in"
    text: str  # scripted transcript / what the recording says
    secs: float  # length (scripted set; the recorded set uses the clip's)
    source: str = ""  # recorded set: "piper:<text>", "noise:<kind>", "asterisk:<file>"


SCRIPTED = [
    Event("backchannel", "Mm-hmm.", 0.35),
    Event("backchannel", "Yeah.", 0.3),
    Event("backchannel", "Right.", 0.3),
    Event("backchannel", "Okay, got it.", 0.55),
    Event("backchannel", "Uh-huh.", 0.4),
    Event("backchannel", "I see.", 0.4),
    Event("noise", "", 0.12),
    Event("noise", "", 0.25),
    Event("barge_in", "Stop.", 0.3),
    Event("barge_in", "Hold on.", 0.4),
    Event("barge_in", "No, I meant Saturday.", 0.8),
    Event("barge_in", "Wait, what about Sunday?", 1.0),
]
SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
RECORDED = [
    Event("backchannel", "Mm-hmm.", 0, "piper:Mm-hmm."),
    Event("backchannel", "Yeah.", 0, "piper:Yeah."),
    Event("backchannel", "Right.", 0, "piper:Right."),
    Event("backchannel", "Okay.", 0, "piper:Okay."),
    Event("backchannel", "Uh-huh.", 0, "piper:Uh-huh."),
    Event("backchannel", "I see.", 0, "piper:I see."),
    Event("backchannel", "Okay, got it.", 0, "piper:Okay, got it."),
    Event("backchannel", "Sure.", 0, "piper:Sure."),
    Event("noise", "", 0, "noise:click"),
    Event("noise", "", 0, "noise:cough"),
    Event("barge_in", "Hello.", 0, "asterisk:hello.wav"),
    Event("barge_in", "Goodbye.", 0, "asterisk:goodbye.wav"),
    Event("barge_in", "I'm sorry.", 0, "asterisk:im-sorry.wav"),
    Event("barge_in", "Please try again.", 0, "asterisk:please-try-again.wav"),
    Event("barge_in", "One moment, please.", 0, "asterisk:one-moment-please.wav"),
    Event("barge_in", "Please hold while I try that number.", 0, "asterisk:pls-hold-while-try.wav"),
]


def synthetic(secs: float) -> np.ndarray:
    from voicebot.testing.caller_audio import caller_recording

    pcm = caller_recording([(0.0, secs)], total_secs=secs, sample_rate=IN_RATE)
    return pcm.samples.astype(np.float32) / 32768


def noise(kind: str, rng: np.random.Generator) -> np.ndarray:
    """A click (10 ms) or a cough (two 120 ms bursts of low-passed noise)."""
    if kind == "click":
        x = rng.standard_normal(int(0.01 * IN_RATE)) * 0.6
    else:
        burst = np.convolve(rng.standard_normal(int(0.12 * IN_RATE)), np.ones(6) / 6, "same")
        env = np.exp(-np.linspace(0, 5, burst.size))
        gap = np.zeros(int(0.06 * IN_RATE))
        x = np.concatenate([burst * env, gap, 0.7 * burst * env]) * 0.8
    return np.clip(x, -1, 1).astype(np.float32)


def recorded(event: Event, rng: np.random.Generator, piper: Any) -> np.ndarray:
    from voicebot.audio import read_wav

    kind, _, what = event.source.partition(":")
    if kind == "noise":
        return noise(what, rng)
    if kind == "asterisk":
        x = read_wav(SOUNDS / what, IN_RATE).samples.astype(np.float32) / 32768
        return x / max(1e-3, float(np.max(np.abs(x)))) * 0.6
    audio = b"".join(c.audio_int16_bytes for c in piper.synthesize(what))
    x = np.frombuffer(audio, dtype=np.int16).astype(np.float32) / 32768
    from voicebot.audio.wav import resample

    return resample(x, piper.config.sample_rate, IN_RATE).astype(np.float32)


FRESH_SEED = 15
#: The prompts measured while designing pause_at="first_sound" (random.sample, seed 1, 40).
DESIGN_SEED, DESIGN_COUNT = 1, 40


def fresh_events() -> list[Event]:
    """16 barge-ins from Asterisk prompts no other set (nor the design measurement) used,
    0.5-2.5 s long."""
    import random

    from voicebot.audio import read_wav

    files = sorted(SOUNDS.glob("*.wav"))
    used = {e.source.partition(":")[2] for e in RECORDED} | {"hello-world.wav"}
    used |= {f.name for f in random.Random(DESIGN_SEED).sample(files, DESIGN_COUNT)}
    pool = [f for f in files if f.name not in used]
    out: list[Event] = []
    for f in random.Random(FRESH_SEED).sample(pool, len(pool)):
        secs = read_wav(f).duration_secs
        if 0.5 <= secs <= 2.5:
            out.append(Event("barge_in", f.stem, 0, f"asterisk:{f.name}"))
        if len(out) == 16:
            break
    return out


#: Backchannels for the second fresh set, written 2026-12-03 (session 16) before any run of
#: it: phrases no other set has, most in the default vocabulary (``DEFAULT_BACKCHANNELS``),
#: two not ("Gotcha.", "Sounds good.": the vocabulary's limit, expected to stop the bot).
FRESH2_BACKCHANNELS = (
    "Alright.", "Great.", "Nice.", "Hmm.", "Yup.", "Okay, okay.", "Thank you.", "Wow.",
    "True.", "Oh, I see.", "Yeah, yeah.", "Exactly.", "Gotcha.", "Sounds good.",
)  # fmt: skip
FRESH2_SEED = 16


def fresh2_events() -> list[Event]:
    """The second fresh set (``--fresh2``): ``FRESH2_BACKCHANNELS`` spoken by the Piper
    voice, a click and a cough, and 12 barge-ins from Asterisk prompts no earlier set used
    (nor the design measurement), 0.4-2.5 s long, drawn with ``FRESH2_SEED``."""
    import random

    from voicebot.audio import read_wav

    files = sorted(SOUNDS.glob("*.wav"))
    used = {e.source.partition(":")[2] for e in RECORDED + fresh_events()} | {"hello-world.wav"}
    used |= {f.name for f in random.Random(DESIGN_SEED).sample(files, DESIGN_COUNT)}
    pool = [f for f in files if f.name not in used]
    out = [Event("backchannel", t, 0, f"piper:{t}") for t in FRESH2_BACKCHANNELS]
    out += [Event("noise", "", 0, "noise:click"), Event("noise", "", 0, "noise:cough")]
    for f in random.Random(FRESH2_SEED).sample(pool, len(pool)):
        if 0.4 <= read_wav(f).duration_secs <= 2.5:
            out.append(Event("barge_in", f.stem, 0, f"asterisk:{f.name}"))
        if len(out) == len(FRESH2_BACKCHANNELS) + 2 + 12:
            break
    return out


def written_events(name: str) -> list[Event]:
    """Session 19's written sets (``--set fresh3|fresh4``): see backchannel_written_sets."""
    import random

    from benchmarks.backchannel_written_sets import events

    files = sorted(SOUNDS.glob("*.wav"))
    design = random.Random(DESIGN_SEED).sample(files, DESIGN_COUNT)
    earlier = RECORDED + fresh_events() + fresh2_events()
    earlier += [Event("barge_in", "", 0, f"asterisk:{f.name}") for f in design]
    earlier.append(Event("barge_in", "", 0, "asterisk:hello-world.wav"))
    return events(name, Event, earlier, SOUNDS)
