"""examples/fake_bot.py with every call building its own Silero and smart-turn ONNX sessions,
as before issue #12's sharing: the baseline of ``voicebot.providers.onnx_sessions``.

    python -m benchmarks.serve_load --transport twilio --bot THIS_FILE --name ...

Run as a script, it times building one call's analyzers (VAD + turn) both ways:

    .venv/bin/python benchmarks/bots/fake_bot_unshared_onnx.py [--builds 20]
"""

from __future__ import annotations

import argparse
import runpy
import statistics
import time
from pathlib import Path
from typing import Any

from voicebot import SileroVAD, SmartTurn
from voicebot.providers.base import BuildContext


class UnsharedSileroVAD(SileroVAD):
    """Pipecat's ``SileroVADAnalyzer`` as is: a new ONNX session per call."""

    def prepare(self) -> None:
        """Nothing to load ahead: each build loads the model."""

    def build(self, ctx: BuildContext) -> Any:
        from pipecat.audio.vad.silero import SileroVADAnalyzer
        from pipecat.audio.vad.vad_analyzer import VADParams

        params = VADParams(
            confidence=self.confidence,
            start_secs=self.start_secs,
            stop_secs=self.stop_secs,
            min_volume=self.min_volume,
        )
        return SileroVADAnalyzer(params=params)


class UnsharedSmartTurn(SmartTurn):
    """Pipecat's ``LocalSmartTurnAnalyzerV3`` as is: a new ONNX session per call."""

    def prepare(self) -> None:
        """Nothing to load ahead: each build loads the model."""

    def build(self, ctx: BuildContext) -> Any:
        from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
        from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
        from pipecat.turns.user_stop import TurnAnalyzerUserTurnStopStrategy
        from pipecat.turns.user_turn_strategies import UserTurnStrategies

        analyzer = LocalSmartTurnAnalyzerV3(params=SmartTurnParams(stop_secs=self.max_silence_secs))
        return UserTurnStrategies(
            start=self.start_strategies(ctx),
            stop=[TurnAnalyzerUserTurnStopStrategy(turn_analyzer=analyzer)],
        )


_fake = runpy.run_path(str(Path(__file__).resolve().parents[2] / "examples" / "fake_bot.py"))
bot = _fake["bot"].replace(vad=UnsharedSileroVAD(), turn=UnsharedSmartTurn())


def time_builds(builds: int) -> None:
    """p50 wall and CPU time of one call's VAD + turn build, shared sessions vs unshared."""
    ctx = bot.build_context()
    ways = {
        "unshared": (UnsharedSileroVAD(), UnsharedSmartTurn()),
        "shared": (SileroVAD(), SmartTurn()),
    }
    for vad, turn in ways.values():  # imports, and the shared sessions, before timing
        vad.build(ctx), turn.build(ctx)
    wall: dict[str, list[float]] = {way: [] for way in ways}
    cpu: dict[str, list[float]] = {way: [] for way in ways}
    for _ in range(builds):
        for way, (vad, turn) in ways.items():  # interleaved, so drift hits both alike
            w, c = time.perf_counter(), time.process_time()
            vad.build(ctx), turn.build(ctx)
            wall[way].append(time.perf_counter() - w)
            cpu[way].append(time.process_time() - c)
    for way in ways:
        print(
            f"{way:>8}: {builds} builds, p50 {1000 * statistics.median(wall[way]):.1f} ms wall, "
            f"{1000 * statistics.median(cpu[way]):.1f} ms CPU "
            f"(max {1000 * max(wall[way]):.1f} ms wall)"
        )


if __name__ == "__main__":
    from loguru import logger

    logger.remove()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=20)
    time_builds(parser.parse_args().builds)
