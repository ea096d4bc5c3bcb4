"""examples/fake_bot.py answering Twilio calls with the carrier's 20 ms frames handed on one
by one (``input_frame_secs=0.02``): the baseline of the 40 ms pairing that phone transports
use by default. ``python -m benchmarks.serve_load --transport twilio --bot THIS_FILE``."""

import runpy
from pathlib import Path

from voicebot.transports.phone import Twilio

_fake = runpy.run_path(str(Path(__file__).resolve().parents[2] / "examples" / "fake_bot.py"))
bot = _fake["bot"].replace(transport=Twilio(input_frame_secs=0.02))
