"""A warm worker has imported what a call needs: its first caller does not wait for ~0.25 s
of imports (measured: a first phone call answered in 0.34 s, later ones in ~0.1 s).

Run in a fresh interpreter: this test process has long imported everything."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO

FIRST_CALL = """
import asyncio, json, sys
from tests.conftest import load_example
from tests.phone.twilio_fakes import TwilioCaller, served_worker

bot = load_example("fake_bot.py", "warm_fake_bot").bot
with served_worker(bot) as worker:
    before = set(sys.modules)
    caller = TwilioCaller()
    asyncio.run(caller.call(worker.ws("/phone/ws/twilio"), (0.0, 3.4), lambda: bool(caller.audio)))
    assert caller.audio, "the bot never answered"
    new = sorted(m for m in set(sys.modules) - before if m.startswith(("voicebot", "pipecat")))
print("NEW_MODULES " + json.dumps(new))
"""


def test_a_first_call_imports_nothing_the_warm_up_could_have() -> None:
    run = subprocess.run(
        [sys.executable, "-c", FIRST_CALL],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    line = next(x for x in run.stdout.splitlines() if x.startswith("NEW_MODULES "))
    new = json.loads(line.removeprefix("NEW_MODULES "))
    assert new == [], f"imported during the first call: {new}"
