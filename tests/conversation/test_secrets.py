"""No planted secret comes out of anything a call leaves behind.

Fake keys (``sk-test-PLANTED123...``) are planted in the environment and in the spec, and
in the places a real application leaks them from: a tool that logs its CRM URL with the key
in it and then fails with the key in its exception (while a local variable holds the key,
which loguru's ``diagnose`` would print), a vendor error. Two sessions run: one on the
fakes (tool call, memory, turns file), one whose OpenAI LLM is a loopback port that refuses
connections (the session ends with a ``VendorError``), both in process and through
``voicebot run`` in a subprocess, with and without ``-v``. Every output is captured and
searched: a loguru sink at TRACE with ``diagnose``, stdout and stderr, the turns JSONL,
``voicebot report``'s files, the memory database, the ``repr`` of the bot, the session and
the build context, and the exception.
"""

from __future__ import annotations

import asyncio
import io
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from voicebot import Bot, EnergyVAD, OpenAILLM, SilenceTurn, WavFile, tool
from voicebot.errors import VendorError
from voicebot.memory import Memory, SQLiteStore
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, ToolCall, write_caller_wav

pytestmark = pytest.mark.real_time  # real sockets, subprocesses

MARK = "PLANTED123"
PLANTED_ENV = {
    "OPENAI_API_KEY": f"sk-test-{MARK}-openai-0000000001",
    "DEEPGRAM_API_KEY": f"dg-test-{MARK}-deepgram-000002",
    "CARTESIA_API_KEY": f"car-test-{MARK}-cartesia-00003",
    "TWILIO_AUTH_TOKEN": f"tw-test-{MARK}-twilio-0000004",
    "VOICEBOT_AUTH_TOKEN": f"vb-test-{MARK}-serve-00000005",
}
SPEC_KEY = f"sk-test-{MARK}-spec-000000000006"
CRM_KEY = PLANTED_ENV["TWILIO_AUTH_TOKEN"]  # a carrier secret the application also uses
BOUND_SECS = 60.0


def leaks(*outputs: object) -> list[str]:
    """The outputs (as text) in which a planted secret, or any part marked, appears."""
    found = []
    for out in outputs:
        text = out.decode("utf-8", "replace") if isinstance(out, bytes) else str(out)
        if MARK in text or any(v in text for v in [*PLANTED_ENV.values(), SPEC_KEY]):
            at = text.find(MARK)
            found.append(text[max(0, at - 200) : at + 60])
    return found


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """Bound, not listening: every connection is refused at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    """Everything logged, at TRACE, with tracebacks and their variables (``diagnose``)."""
    out = io.StringIO()
    sink = logger.add(out, level="TRACE", backtrace=True, diagnose=True, serialize=False)
    json_out = io.StringIO()
    json_sink = logger.add(json_out, level="TRACE", serialize=True)
    try:
        yield out
    finally:
        logger.remove(sink)
        logger.remove(json_sink)
        out.write(json_out.getvalue())


@tool
async def crm_lookup(account: str) -> str:
    """Look up the caller's account."""
    key = CRM_KEY  # a local the traceback would show
    logger.info(f"crm: GET https://crm.example/api/{account}?api_key={key}")
    logger.debug(f"crm: using key {key}")
    raise RuntimeError(f"crm refused the request with key {key}")


def fake_bot(tmp_path: Path) -> Bot:
    return Bot(
        stt=FakeSTT(transcripts=["What is the status of my account?"]),
        llm=FakeLLM(
            replies=[ToolCall("crm_lookup", {"account": "A-17"}), "Sorry, I cannot see it."]
        ),
        tts=FakeTTS(),
        vad=EnergyVAD(stop_secs=0.2),
        turn=SilenceTurn(silence_secs=0.3),
        tools=(crm_lookup,),
        greeting="Hello, this is the bank.",
        turns_jsonl=tmp_path / "live_turns.jsonl",
        memory=Memory(store=SQLiteStore(tmp_path / "memory.db"), user_id="+15550100"),
    )


async def test_no_secret_leaves_a_session_on_fakes_or_a_failing_vendor(
    tmp_path: Path, log: io.StringIO, refusing_port: int
) -> None:
    caller = write_caller_wav(tmp_path / "caller.wav", [(1.0, 1.2)], total_secs=6.0)

    # 1. On the fakes: the tool logs and fails with the key; turns file and memory written.
    bot = fake_bot(tmp_path)
    ctx = bot.check(PLANTED_ENV, transport=WavFile(input=caller))
    session = bot.session(
        transport=WavFile(input=caller, output=tmp_path / "bot1.wav", linger_secs=1.0),
        env=PLANTED_ENV,
    )
    async with asyncio.timeout(BOUND_SECS):
        await session.run()
    calls = [c for t in session.turns for c in t.tool_calls]
    assert [c.name for c in calls] == ["crm_lookup"], "the tool never ran: nothing was tested"
    assert "crm refused the request with key ***" in str(calls[0].result)
    assert "api_key=***" in log.getvalue()

    # 2. The LLM is unreachable, its key in the spec and the others in the environment.
    failing = Bot(
        stt=FakeSTT(transcripts=["Hello?"]),
        llm=OpenAILLM(base_url=f"http://127.0.0.1:{refusing_port}/v1", api_key=SPEC_KEY),
        tts=FakeTTS(),
        vad=EnergyVAD(stop_secs=0.2),
        turn=SilenceTurn(silence_secs=0.3),
        greeting="Hello.",
    )
    failing_session = failing.session(
        transport=WavFile(input=caller, output=tmp_path / "bot2.wav"), env=PLANTED_ENV
    )
    with pytest.raises(VendorError) as raised:
        async with asyncio.timeout(BOUND_SECS):
            await failing_session.run()
    assert "connection refused" in str(raised.value)
    logger.opt(exception=raised.value).error("the call failed")

    db = tmp_path / "memory.db"
    files = [(tmp_path / "live_turns.jsonl").read_bytes()]
    files += [p.read_bytes() for p in tmp_path.glob("memory.db*")]
    assert db.exists() and b"crm_lookup" in b"".join(files), "no transcript was stored"
    found = leaks(
        log.getvalue(),
        *files,
        repr(bot),
        repr(failing),
        repr(ctx),
        repr(session),
        repr(failing_session),
        str(raised.value),
        repr(raised.value),
        [t.to_dict() for t in session.turns],
        session.handoff_package(),
        failing.stt.describe() + failing.llm.describe(),
    )
    assert found == [], found


BOT_FILE = """
import os
from loguru import logger
from voicebot import Bot, EnergyVAD, OpenAILLM, SilenceTurn, tool
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, ToolCall

@tool
async def crm_lookup(account: str) -> str:
    \"\"\"Look up the caller's account.\"\"\"
    key = os.environ["TWILIO_AUTH_TOKEN"]
    logger.info(f"crm: GET https://crm.example/api/{account}?api_key={key}")
    raise RuntimeError(f"crm refused the request with key {key}")

port = os.environ.get("REFUSING_PORT")
bot = Bot(
    stt=FakeSTT(transcripts=["What is the status of my account?"]),
    llm=(
        OpenAILLM(base_url=f"http://127.0.0.1:{port}/v1")
        if port
        else FakeLLM(replies=[ToolCall("crm_lookup", {"account": "A-17"}), "Sorry."])
    ),
    tts=FakeTTS(),
    vad=EnergyVAD(stop_secs=0.2),
    turn=SilenceTurn(silence_secs=0.3),
    tools=(crm_lookup,),
    greeting="Hello, this is the bank.",
)
"""


def voicebot(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voicebot.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=cwd,
        timeout=BOUND_SECS + 60,  # + interpreter and Pipecat start-up
    )


@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
def test_no_secret_in_what_voicebot_run_and_report_print_or_write(
    tmp_path: Path, refusing_port: int, verbose: bool
) -> None:
    bot_file = tmp_path / "bank_bot.py"
    bot_file.write_text(textwrap.dedent(BOT_FILE))
    caller = write_caller_wav(tmp_path / "caller.wav", [(1.0, 1.2)], total_secs=5.0)
    flags = ["-v"] if verbose else []
    turns = tmp_path / "turns.jsonl"
    common = ["--input", str(caller), "--linger", "1"]

    ran = voicebot(
        "run", *flags, str(bot_file), *common, "--turns", str(turns), env=PLANTED_ENV, cwd=tmp_path
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "crm_lookup" in ran.stdout and "***" in ran.stdout, ran.stdout

    failed = voicebot(
        "run",
        *flags,
        str(bot_file),
        *common,
        env={**PLANTED_ENV, "REFUSING_PORT": str(refusing_port)},
        cwd=tmp_path,
    )
    assert failed.returncode == 2 and "connection refused" in failed.stderr, failed.stderr[-2000:]

    reported = voicebot(
        "report", str(turns), "-o", str(tmp_path / "latency"), env=PLANTED_ENV, cwd=tmp_path
    )
    assert reported.returncode == 0, reported.stderr[-2000:]
    written = [p.read_bytes() for p in tmp_path.glob("latency*")]
    assert written, "the report wrote nothing"

    found = leaks(
        ran.stdout,
        ran.stderr,
        failed.stdout,
        failed.stderr,
        reported.stdout,
        reported.stderr,
        turns.read_bytes(),
        *written,
    )
    assert found == [], found
