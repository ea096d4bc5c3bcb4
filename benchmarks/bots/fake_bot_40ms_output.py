"""examples/fake_bot.py answering Twilio calls with the bot's audio sent in 40 ms chunks
(``output_chunk_secs=0.04``, the phone default until 2026-12-03): the baseline of the 20 ms
chunks that stop a barged-in bot up to 20 ms sooner.
``python -m benchmarks.serve_load --transport twilio --bot THIS_FILE``."""

import runpy
from pathlib import Path

from voicebot.transports.phone import Twilio

_fake = runpy.run_path(str(Path(__file__).resolve().parents[2] / "examples" / "fake_bot.py"))
bot = _fake["bot"].replace(transport=Twilio(output_chunk_secs=0.04))
