"""REGISTER with digest auth against SIPp (Debian's sip-tester) playing a registrar.

scenarios/registrar_digest.xml challenges with 401 and checks the Authorization header with
SIPp's own digest code (``verifyauth``): sipp exits 0 only if the credentials were right.
"""

from __future__ import annotations

import asyncio
import runpy
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "aiosipua", reason='the SIP extra is not installed: pip install "voicebot[sip]"'
)
SIPP = shutil.which("sipp")
if SIPP is None:
    pytest.skip(
        "sipp is not installed (Debian: apt-get install sip-tester)", allow_module_level=True
    )

from tests.sip.baresip_peer import free_port  # noqa: E402
from voicebot.errors import VendorError  # noqa: E402
from voicebot.transports.sip import SIP  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = Path(__file__).parent / "scenarios" / "registrar_digest.xml"
BOUND = 30.0


async def registrar(port: int) -> asyncio.subprocess.Process:
    assert SIPP is not None
    proc = await asyncio.create_subprocess_exec(
        SIPP,
        "-sf",
        str(SCENARIO),
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-m",
        "1",
        "-nostdin",
        "-timeout",
        f"{BOUND:g}s",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    # sipp prints nothing when it is listening: wait for its UDP port to be taken.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOUND
    while loop.time() < deadline:
        if not _port_free(port):
            return proc
        await asyncio.sleep(0.05)
    proc.kill()
    raise AssertionError("sipp never listened")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def fake_bot() -> Any:
    return runpy.run_path(str(ROOT / "examples" / "fake_bot.py"))["bot"]


async def test_registers_with_digest_auth() -> None:
    port = free_port()
    sipp = await registrar(port)
    sip = SIP(
        host="127.0.0.1",
        port=free_port(),
        registrar=f"127.0.0.1:{port}",
        username="bot",
        password="secret",
        domain="voicebot.test",
    )
    session = await fake_bot().start_session(transport=sip)
    run = asyncio.create_task(session.run())
    try:
        code = await asyncio.wait_for(sipp.wait(), BOUND)
        assert sipp.stderr is not None
        assert code == 0, (await sipp.stderr.read()).decode(errors="replace")
        await session.end()
        await asyncio.wait_for(run, BOUND)
    finally:
        if not run.done():
            run.cancel()
        if sipp.returncode is None:
            sipp.kill()


async def test_a_refused_registration_ends_the_session_with_a_clear_error() -> None:
    port = free_port()
    sipp = await registrar(port)
    sip = SIP(
        host="127.0.0.1",
        port=free_port(),
        registrar=f"127.0.0.1:{port}",
        username="bot",
        password="wrong",
        domain="voicebot.test",
    )
    session = await fake_bot().start_session(transport=sip)
    try:
        with pytest.raises(
            VendorError,
            match=r"registering sip:bot@voicebot.test at .* 403 Forbidden \(check the username",
        ):
            await asyncio.wait_for(session.run(), BOUND)
    finally:
        if sipp.returncode is None:
            sipp.kill()
            await sipp.wait()
