"""Transfer of a SIP call by REFER (RFC 3515), against SIPp (Debian's sip-tester) playing the
caller's phone: scenarios/uac_refer.xml calls the bot, checks the REFER's Refer-To (target,
session id and reason as headers), answers 202 and reports in NOTIFYs; uac_refer_declined.xml
answers the REFER 603. sipp exits 0 only if every message it expected came as expected.

- target answered (NOTIFY 200): the transfer is done and the bot hangs up (BYE);
- target busy (NOTIFY 486) or REFER declined (603): not done, the call goes on with the bot
  until it ends the call itself (BYE).
"""

from __future__ import annotations

import asyncio
import shutil
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
from tests.sip.test_sipp_register import _port_free, fake_bot  # noqa: E402
from voicebot.transports.sip import SIP  # noqa: E402

SCENARIOS = Path(__file__).parent / "scenarios"
BOUND = 60.0
TARGET = "sip:agent@127.0.0.1:5099"


async def _caller(scenario: str, bot_port: int, *keys: str) -> asyncio.subprocess.Process:
    assert SIPP is not None
    args = [
        SIPP,
        "-sf",
        str(SCENARIOS / scenario),
        f"127.0.0.1:{bot_port}",
        "-i",
        "127.0.0.1",
        "-p",
        str(free_port()),
        "-mp",
        str(free_port()),
        "-m",
        "1",
        "-nostdin",
        "-timeout",
        f"{BOUND:g}s",
        *keys,
    ]
    return await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )


async def _answered(session: object, sipp: asyncio.subprocess.Process) -> None:
    """Until the bot has answered sipp's call (bounded; a dead sipp fails at once)."""
    line = session.transport.line  # type: ignore[attr-defined]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOUND
    while not line.connected:
        assert sipp.returncode is None, "sipp gave up before the call was answered"
        assert loop.time() < deadline, "the bot never answered sipp's INVITE"
        await asyncio.sleep(0.05)


async def _listening(port: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOUND
    while _port_free(port):
        assert loop.time() < deadline, "the bot's SIP line never listened"
        await asyncio.sleep(0.05)


async def _run(scenario: str, *keys: str) -> tuple[Any, Any, asyncio.Task[None], Any]:
    """A bot on a SIP line, called by sipp playing ``scenario``, told to transfer the call;
    returns (session, its TransferResult, the session's run task, sipp)."""
    port = free_port()
    session = await fake_bot().start_session(transport=SIP(host="127.0.0.1", port=port))
    run = asyncio.create_task(session.run())
    sipp: Any = None
    try:
        await _listening(port)
        sipp = await _caller(scenario, port, *keys)
        await _answered(session, sipp)
        result = await session.transfer(
            TARGET, say="Transferring you now.", reason="Wants a nurse", timeout_secs=BOUND
        )
    except BaseException:
        await _stop(session, run, sipp)
        raise
    return session, result, run, sipp


async def _stop(session: Any, run: asyncio.Task[None], sipp: Any) -> None:
    """End the session and sipp (bounded), whatever state a test left them in."""
    if sipp is not None and sipp.returncode is None:
        sipp.kill()
        await sipp.wait()
    if not run.done():
        await session.worker.cancel()
    await asyncio.wait_for(asyncio.gather(run, return_exceptions=True), BOUND)


async def _sipp_ok(sipp: asyncio.subprocess.Process) -> None:
    code = await asyncio.wait_for(sipp.wait(), BOUND)
    assert sipp.stderr is not None
    assert code == 0, (await sipp.stderr.read()).decode(errors="replace")


async def test_a_sip_call_is_transferred_by_refer_and_the_bot_hangs_up() -> None:
    session, result, run, sipp = await _run("uac_refer.xml", "-key", "final", "200 OK")
    try:
        assert result.transferred, result.detail
        assert result.via == "sip" and result.detail == "200 OK"
        assert result.handoff["transfer"]["reason"] == "Wants a nurse"
        await _sipp_ok(sipp)  # it got the bot's BYE
        await asyncio.wait_for(asyncio.shield(run), BOUND)  # and the session ended
    finally:
        await _stop(session, run, sipp)


@pytest.mark.parametrize(
    ("scenario", "keys", "detail"),
    [
        (
            "uac_refer.xml",
            ("-key", "final", "486 Busy Here"),
            "the transfer target answered 486 Busy Here",
        ),
        (
            "uac_refer_declined.xml",
            (),
            "the caller's phone refused the transfer: 603 Decline",
        ),
    ],
)
async def test_a_failed_transfer_leaves_the_call_with_the_bot(
    scenario: str, keys: tuple[str, ...], detail: str
) -> None:
    session, result, run, sipp = await _run(scenario, *keys)
    try:
        assert not result.transferred
        assert result.detail == detail
        assert session.transport.line.connected
        assert sipp.returncode is None, "the caller's phone hung up"
        await session.end()
        await _sipp_ok(sipp)  # the bot's BYE, later
        await asyncio.wait_for(asyncio.shield(run), BOUND)
    finally:
        await _stop(session, run, sipp)
