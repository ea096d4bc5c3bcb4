"""WorkerPool.stop() while workers are still starting: nothing it started outlives it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from voicebot.server.pool import WorkerPool


async def test_stopping_a_starting_pool_leaves_no_heartbeat_behind() -> None:
    def command(index: int, socket: Path) -> list[str]:
        return [sys.executable, "-c", "import time; time.sleep(60)"]  # never answers

    pool = WorkerPool(command, workers=3, heartbeat_secs=0.01)
    await pool.start()
    for _ in range(200):  # until every worker's heartbeat has asked at least once
        await asyncio.sleep(0.01)
        if all(w.process is not None for w in pool.workers.values()) and len(pool.workers) == 3:
            break
    await pool.stop(grace_secs=5)
    beats = [t for t in asyncio.all_tasks() if t.get_name().startswith("heartbeat w")]
    assert beats == [] or all(t.done() for t in beats)
    assert all(
        w.process is not None and w.process.returncode is not None for w in pool.workers.values()
    )
