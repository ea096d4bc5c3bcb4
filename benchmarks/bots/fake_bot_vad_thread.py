"""examples/fake_bot.py with Silero's VAD step on Pipecat's one-thread executor (a thread hop
per audio frame), as before 2026-12-04: the baseline of the VAD run on the event loop.
``python -m benchmarks.serve_load --transport twilio --bot THIS_FILE``."""

import runpy
from pathlib import Path

from pipecat.audio.vad.vad_analyzer import VADAnalyzer

from voicebot.pipecat_compat import _silero_on_session

# The class every call's Silero analyzer is: its event-loop step removed, Pipecat's back.
del _silero_on_session().analyze_audio
assert _silero_on_session().analyze_audio is VADAnalyzer.analyze_audio

_fake = runpy.run_path(str(Path(__file__).resolve().parents[2] / "examples" / "fake_bot.py"))
bot = _fake["bot"]
