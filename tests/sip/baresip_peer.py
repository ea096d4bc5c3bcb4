"""Debian's baresip as the caller: a real, independent SIP/SDP/RTP/G.711/RFC 4733 stack.

baresip plays a WAV as its microphone (``aufile``), records what it hears (``sndfile``
writes ``dump-*-dec.wav`` in ``snd_path``) and is driven over ``ctrl_tcp``: JSON commands in
netstrings (``dial``, ``sndcode``, ``hangup``), JSON events back (``CALL_ESTABLISHED``,
``CALL_CLOSED``). Everything is on loopback; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
from pathlib import Path
from typing import Any

BARESIP = shutil.which("baresip")
MODULES = Path("/usr/lib/baresip/modules")


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def missing() -> str | None:
    """Why baresip cannot be used here, or None."""
    if BARESIP is None:
        return "baresip is not installed (Debian: apt-get install baresip-core)"
    for module in ("g711", "aufile", "sndfile", "ctrl_tcp", "aubridge", "account", "menu"):
        if not (MODULES / f"{module}.so").exists():
            return f"baresip module {module}.so is missing (Debian: baresip-core)"
    return None


class Baresip:
    """One baresip process with its own config folder; use ``async with``."""

    def __init__(self, folder: Path, mic_wav: Path) -> None:
        self.folder = folder
        self.mic_wav = mic_wav
        self.sip_port = free_port()
        self.ctrl_port = free_port(socket.SOCK_STREAM)
        self.events: list[dict[str, Any]] = []
        self._event_seen = asyncio.Event()
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None

    def _write_config(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        modules = "\n".join(
            f"module {m}.so"
            for m in ("g711", "aufile", "aubridge", "sndfile", "account", "menu", "ctrl_tcp")
        )
        (self.folder / "config").write_text(
            f"""poll_method epoll
sip_listen 127.0.0.1:{self.sip_port}
sip_trans_def udp
audio_source aufile,{self.mic_wav}
audio_player aubridge,sink
audio_alert aubridge,sink
ausrc_srate 8000
auplay_srate 8000
ausrc_channels 1
auplay_channels 1
rtp_ports 40000-40999
module_path {MODULES}
{modules}
snd_path {self.folder}
ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}
"""
        )
        (self.folder / "accounts").write_text(
            f"<sip:caller@127.0.0.1:{self.sip_port}>;regint=0;audio_codecs=PCMU,PCMA\n"
        )
        (self.folder / "contacts").write_text("")

    async def __aenter__(self) -> Baresip:
        assert BARESIP is not None
        self._write_config()
        log = open(self.folder / "baresip.log", "wb")  # noqa: SIM115  # closed with the process
        self._proc = await asyncio.create_subprocess_exec(
            BARESIP,
            "-f",
            str(self.folder),
            "-v",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        log.close()
        for _ in range(100):  # up to 10 s for ctrl_tcp to listen
            try:
                self._reader, self._writer = await asyncio.open_connection(
                    "127.0.0.1", self.ctrl_port
                )
                break
            except OSError:
                if self._proc.returncode is not None:
                    raise RuntimeError(f"baresip exited: {self.log()[-2000:]}") from None
                await asyncio.sleep(0.1)
        else:
            raise RuntimeError(f"baresip ctrl_tcp never listened: {self.log()[-2000:]}")
        self._read_task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is not None:
            with contextlib.suppress(OSError, ConnectionError):
                await self.command("quit")
        if self._read_task is not None:
            self._read_task.cancel()
        if self._proc is not None and self._proc.returncode is None:
            try:
                await asyncio.wait_for(self._proc.wait(), 5)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()

    def log(self) -> str:
        path = self.folder / "baresip.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def command(self, command: str, params: str = "") -> None:
        assert self._writer is not None
        body = json.dumps({"command": command, "params": params, "token": command}).encode()
        self._writer.write(f"{len(body)}:".encode() + body + b",")
        await self._writer.drain()

    async def _read(self) -> None:
        assert self._reader is not None
        while True:
            length = await self._reader.readuntil(b":")
            data = await self._reader.readexactly(int(length[:-1]))
            await self._reader.readexactly(1)  # the netstring's ","
            message = json.loads(data)
            if message.get("event"):
                self.events.append(message)
                self._event_seen.set()

    async def wait_event(self, kind: str, timeout: float) -> dict[str, Any]:
        """The first event of ``kind`` (e.g. CALL_ESTABLISHED), waiting up to ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for event in self.events:
                if event.get("type") == kind:
                    return event
            left = deadline - loop.time()
            if left <= 0:
                seen = [e.get("type") for e in self.events]
                raise TimeoutError(f"no {kind} from baresip in {timeout:g}s (saw {seen})")
            self._event_seen.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event_seen.wait(), left)

    def recording(self) -> Path | None:
        """What baresip heard from the bot (sndfile's decoder-side dump), once it exists."""
        found = sorted(self.folder.glob("dump-*-dec.wav"))
        return found[-1] if found else None
