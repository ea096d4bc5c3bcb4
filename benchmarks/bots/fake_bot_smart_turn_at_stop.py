"""examples/fake_bot.py with smart-turn asked at the VAD's stop only
(``SmartTurn(early_secs=None)``, Pipecat's way and voicebot's until 2026-12-03): the baseline
of the verdict started inside the pause.
``python -m benchmarks.serve_load --transport twilio --bot THIS_FILE``."""

import runpy
from pathlib import Path

from voicebot import SmartTurn

_fake = runpy.run_path(str(Path(__file__).resolve().parents[2] / "examples" / "fake_bot.py"))
bot = _fake["bot"].replace(turn=SmartTurn(early_secs=None))
