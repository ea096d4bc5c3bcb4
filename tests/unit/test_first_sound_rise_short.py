"""The short version of benchmarks/first_sound_rise.py: with the default rule (a score of 0.5,
or a 15 dB rise), no chunk of the sounds that are not speech starts a first sound (line
noise, beeps, a click, a synthetic cough, two breaths, a lip smack). Silero alone, no clock."""

from __future__ import annotations

import numpy as np

from benchmarks.first_sound_rise import non_speech_passing
from voicebot import BargeIn


def test_no_non_speech_chunk_is_a_first_sound_under_the_default_rule() -> None:
    rise = BargeIn().first_sound_rise_db
    passing = non_speech_passing(np.random.default_rng(0), (rise,))
    assert len(passing) >= 7  # the Asterisk beeps join when Debian's sounds are installed
    assert {name: counts[str(rise)] for name, counts in passing.items() if counts[str(rise)]} == {}
