"""A worker runs the turn model's threads ahead of everything else it does
(``voicebot.server.worker.favour_turn_model``): checked in a process of its own, since it
lowers the priority of the thread that calls it for good."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice")

PROBE = r"""
import asyncio, json, os, threading
from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
from voicebot.providers.onnx_sessions import smart_turn_analyzer
from voicebot.server.worker import favour_turn_model

def nice(tid):
    with open(f"/proc/self/task/{tid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[16])

base = nice(threading.get_native_id())
favoured = favour_turn_model(2)
analyzer = smart_turn_analyzer(SmartTurnParams())
executor = analyzer._model_executor
model_tids = sorted(set(executor.submit(threading.get_native_id).result() for _ in range(8)))
later = []
t = threading.Thread(target=lambda: later.append(nice(threading.get_native_id())))
t.start(); t.join()
asyncio.run(analyzer.cleanup())  # Pipecat's cleanup must not shut the worker's threads down
after_cleanup = analyzer._model_executor.submit(lambda: 1).result()
print(json.dumps({
    "favoured": favoured, "base": base, "main": nice(threading.get_native_id()),
    "model": [nice(t) for t in model_tids], "later": later[0],
    "same_executor": analyzer._model_executor is executor, "after_cleanup": after_cleanup,
}))
"""


def test_the_turn_model_runs_ahead_of_the_rest_of_the_worker() -> None:
    from voicebot.server.worker import TURN_PRIORITY_STEPS

    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    base = seen["base"]
    assert seen["favoured"] is True
    assert seen["main"] == seen["later"] == min(19, base + TURN_PRIORITY_STEPS)
    assert seen["model"] and all(n == base for n in seen["model"]), seen
    assert seen["same_executor"] and seen["after_cleanup"] == 1
