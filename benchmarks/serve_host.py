"""The server side of benchmarks/serve_load.py: a ``voicebot serve`` process, and what the
benchmark reads about it and the machine (RSS and CPU time from /proc, CPU model, commit).

The server runs at the scheduling priority this process had before the callers raised
theirs (``serve_load`` gives its callers a higher priority, so that on a shared 2-core
machine the callers keep real time the way callers on their own machines would).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import REPO

START_BOUND_SECS = 300.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ServeProcess:
    """``voicebot serve BOT --workers W`` on a free loopback port, stopped by ``stop``."""

    def __init__(
        self,
        bot: Path,
        workers: int,
        log: Path,
        nice: int | None = None,
        extra: Sequence[str] = (),
    ) -> None:
        """``nice``: the server's scheduling priority (default: this process's); ``extra``:
        more ``voicebot serve`` flags (``--redis URL``)."""
        self.workers = workers
        self.url: str | None = None
        self._log = log.open("w")
        flags = ["--workers", str(workers), "--port", "0", *extra]
        delta = 0 if nice is None else nice - os.getpriority(os.PRIO_PROCESS, 0)
        renice = ["nice", "-n", str(delta)] if delta else []
        self.proc = subprocess.Popen(  # nice execs the server: proc.pid is the supervisor's
            [*renice, sys.executable, "-m", "voicebot.cli", "serve", str(bot), *flags],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if found := re.search(r"at (http://\S+?/)", line):
                self.url = found.group(1)

    def wait_ready(self) -> str:
        deadline = time.monotonic() + START_BOUND_SECS
        while self.url is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"serve did not start (see {self._log.name})")
            time.sleep(0.1)
        return self.url

    def status(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}api/status", timeout=30).json())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def rss_mb(pid: int | None) -> float | None:
    """VmRSS of ``pid`` in MB, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (OSError, TypeError):
        return None
    found = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    return int(found.group(1)) / 1024 if found else None


def worker_rss(server: ServeProcess) -> list[float]:
    """Each worker's RSS in MB."""
    return [r for w in server.status()["workers"] if (r := rss_mb(w["pid"])) is not None]


def wait_idle(server: ServeProcess, bound: float = 60.0) -> None:
    """Until the supervisor counts no live call (each ended call frees its slot within one
    heartbeat) and every worker is ready."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        s = server.status()
        if s["sessions"] == 0 and all(w["ready"] for w in s["workers"]):
            return
        time.sleep(0.2)


def bot_config(path: Path) -> dict[str, Any]:
    """The bot file's stages and the fakes' delays, as the JSON records them."""
    from voicebot.cli import load_bot

    bot = load_bot(str(path))
    return {
        "file": str(path.relative_to(REPO)),
        "stt": repr(bot.stt),
        "llm": repr(bot.llm),
        "tts": repr(bot.tts),
        "vad": repr(bot.vad),
        "turn": repr(bot.turn),
        "delays_secs": {
            "stt": getattr(bot.stt, "latency_secs", None),
            "llm_ttft": getattr(bot.llm, "ttft_secs", None),
            "tts_ttfb": getattr(bot.tts, "ttfb_secs", None),
        },
    }


def cpu_model() -> str:
    with open("/proc/cpuinfo") as f:
        found = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
    return found.group(1) if found else "?"


def git_commit() -> str:
    """HEAD, and whether the code measured differs from it."""
    run = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "voicebot", "benchmarks"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return run.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def cpu_secs(pid: int | None) -> float | None:
    """User + system CPU seconds ``pid`` has used, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError, TypeError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def server_pids(server: ServeProcess) -> list[int]:
    """The supervisor's pid and its workers' (from ``/api/status``)."""
    return [server.proc.pid, *(w["pid"] for w in server.status()["workers"] if w["pid"])]
