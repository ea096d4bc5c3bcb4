"""examples/fake_bot.py with smart-turn asked 64 ms into the caller's pause
(``SmartTurn(early_secs=0.064)``; the default asks at the VAD's stop, as Pipecat does).
``python -m benchmarks.serve_load --transport twilio --bot THIS_FILE``.

The 2026-12-03 A/B runs (``benchmarks/results/s13_ab_*.json``) were made while 0.064 was the
default: their "early" runs served examples/fake_bot.py and their baseline a bot file with
``early_secs=None``; this file and examples/fake_bot.py now give the same two bots."""

import runpy
from pathlib import Path

from voicebot import SmartTurn

_fake = runpy.run_path(str(Path(__file__).resolve().parents[2] / "examples" / "fake_bot.py"))
bot = _fake["bot"].replace(turn=SmartTurn(early_secs=0.064))
