"""A whole bot whose vendor refuses the key or cannot be reached ends at once, loudly.

Each test runs a full session (WAV caller → Deepgram → OpenAI → Cartesia → WAV) against the
local vendor servers, with one vendor made unusable: its server refuses the key (HTTP 401),
or its address is a loopback port where nothing listens (a socket bound there but not
listening, so connecting is refused at once and no other process can take the port).

The caller's recording is 60 s long and the test allows 30 s: a session that ran on until
the recording ended (what used to happen) fails by the bound, whatever the machine's speed.
What is asserted is the outcome: ``VendorError`` naming the stage and the reason, and no bot
speech in the transcript.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.contract.servers.openai_chat import OpenAIChatServer, text
from voicebot import Bot, CartesiaTTS, DailyRoom, DeepgramSTT, OpenAILLM
from voicebot.errors import VendorError
from voicebot.processors.heard_text import CUT_MARKER
from voicebot.providers.energy import EnergyVAD
from voicebot.providers.turn import SilenceTurn
from voicebot.session import Session
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, write_caller_wav
from voicebot.transports.wav import WavFile

pytestmark = pytest.mark.contract

DEEPGRAM_KEY = "dg-contract-key"
CARTESIA_KEY = "sk_car_contract"
OPENAI_KEY = "sk-contract-0123456789abcdef"
GREETING = "Hello, this is the library. How can I help?"
QUESTION = "When are you open?"
ANSWER = "We open at nine."
LONG_SECS = 60.0  # the caller's recording
BOUND_SECS = 30.0  # the test's own limit: half the recording


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else gets it), not
    listening (so the kernel answers every connection attempt with a reset)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture
def long_caller(tmp_path: Path) -> Path:
    """60 s: the question at 1 s, then silence the session must not wait out."""
    return write_caller_wav(tmp_path / "caller.wav", [(1.0, 1.2)], total_secs=LONG_SECS)


def env() -> dict[str, str]:
    """Keys from the 'environment', so the error can name the variable to check."""
    return {
        "DEEPGRAM_API_KEY": DEEPGRAM_KEY,
        "OPENAI_API_KEY": OPENAI_KEY,
        "CARTESIA_API_KEY": CARTESIA_KEY,
    }


def cloud_bot(*, stt_url: str, llm_url: str, tts_url: str, llm_key: str = OPENAI_KEY) -> Bot:
    return Bot(
        stt=DeepgramSTT(base_url=stt_url),
        llm=OpenAILLM(base_url=llm_url, api_key=llm_key),
        tts=CartesiaTTS(url=tts_url),
        vad=EnergyVAD(stop_secs=0.2),
        turn=SilenceTurn(silence_secs=0.3),
        greeting=GREETING,
    )


async def run_failing(bot: Bot, caller: Path, tmp_path: Path) -> tuple[VendorError, Session]:
    """Run ``bot`` on ``caller``; it must end with a VendorError within the bound."""
    transport = WavFile(input=caller, output=tmp_path / "bot.wav")
    bot.check(env(), transport=transport)
    session = bot.session(transport=transport, env=env())
    with pytest.raises(VendorError) as raised:
        async with asyncio.timeout(BOUND_SECS):
            await session.run()
    return raised.value, session


def bot_lines(session: Session) -> list[str]:
    return [t.bot_text for t in session.turns if t.bot_text]


def only_the_greeting_was_said(session: Session) -> bool:
    """The greeting (or the part of it heard before the caller spoke over it), and no reply:
    what the LLM never said is not recorded."""
    replies = [t.bot_text for t in session.turns if t.user_text and t.bot_text]
    greetings = [t.bot_text for t in session.turns if not t.user_text and t.bot_text]
    heard = [line.removesuffix(CUT_MARKER).strip() for line in greetings]
    return not replies and len(heard) == 1 and bool(heard[0]) and GREETING.startswith(heard[0])


@pytest.fixture
async def servers(
    deepgram_server_factory: Callable[..., Any], cartesia_server_factory: Callable[..., Any]
) -> Any:
    """A working Deepgram, Cartesia and OpenAI, for the stages a test leaves alone."""
    deepgram = await deepgram_server_factory(api_key=DEEPGRAM_KEY, transcripts=[QUESTION])
    cartesia = await cartesia_server_factory(api_key=CARTESIA_KEY)
    async with OpenAIChatServer([text(ANSWER)], api_key=OPENAI_KEY) as openai:
        yield deepgram, cartesia, openai


# ---- at session start: Deepgram and Cartesia connect before the first word ------------------


async def test_deepgram_refusing_the_key_ends_the_session(
    servers: Any, deepgram_server_factory: Callable[..., Any], long_caller: Path, tmp_path: Path
) -> None:
    _, cartesia, openai = servers
    deepgram = await deepgram_server_factory(reject_auth=True)
    bot = cloud_bot(stt_url=deepgram.base_url, llm_url=openai.base_url, tts_url=cartesia.url)

    error, session = await run_failing(bot, long_caller, tmp_path)

    assert error.stage == "DeepgramSTT"
    assert error.reason == "401 Unauthorized"
    assert str(error) == (
        f"DeepgramSTT could not connect to {deepgram.base_url}/v1/listen: 401 Unauthorized "
        "(check DEEPGRAM_API_KEY)"
    )
    assert deepgram.rejected, "the server never saw the handshake"
    assert bot_lines(session) == []
    assert openai.requests == []


async def test_deepgram_unreachable_ends_the_session(
    servers: Any, refusing_port: int, long_caller: Path, tmp_path: Path
) -> None:
    _, cartesia, openai = servers
    url = f"ws://127.0.0.1:{refusing_port}"
    bot = cloud_bot(stt_url=url, llm_url=openai.base_url, tts_url=cartesia.url)

    error, session = await run_failing(bot, long_caller, tmp_path)

    assert error.stage == "DeepgramSTT"
    assert error.reason == "connection refused"
    assert f"could not connect to {url}/v1/listen" in str(error)
    assert bot_lines(session) == []


async def test_cartesia_refusing_the_key_ends_the_session(
    servers: Any, cartesia_server_factory: Callable[..., Any], long_caller: Path, tmp_path: Path
) -> None:
    deepgram, _, openai = servers
    cartesia = await cartesia_server_factory(api_key="sk_car_some_other_key")
    bot = cloud_bot(stt_url=deepgram.base_url, llm_url=openai.base_url, tts_url=cartesia.url)

    error, session = await run_failing(bot, long_caller, tmp_path)

    assert error.stage == "CartesiaTTS"
    assert error.reason == "401 Unauthorized"
    assert str(error) == (
        f"CartesiaTTS could not connect to {cartesia.url}: 401 Unauthorized "
        "(check CARTESIA_API_KEY)"
    )
    assert cartesia.rejected == [(401, CARTESIA_KEY)]
    assert bot_lines(session) == []  # the greeting was not spoken, so it is not recorded


async def test_cartesia_unreachable_ends_the_session(
    servers: Any, refusing_port: int, long_caller: Path, tmp_path: Path
) -> None:
    deepgram, _, openai = servers
    url = f"ws://127.0.0.1:{refusing_port}/tts/websocket"
    bot = cloud_bot(stt_url=deepgram.base_url, llm_url=openai.base_url, tts_url=url)

    error, session = await run_failing(bot, long_caller, tmp_path)

    assert error.stage == "CartesiaTTS"
    assert error.reason == "connection refused"
    assert f"could not connect to {url}" in str(error)
    assert bot_lines(session) == []


# ---- the LLM connects per request: its first request decides ---------------------------------


async def test_openai_refusing_the_key_on_the_first_request_ends_the_session(
    servers: Any, long_caller: Path, tmp_path: Path
) -> None:
    deepgram, cartesia, openai = servers
    bot = cloud_bot(
        stt_url=deepgram.base_url,
        llm_url=openai.base_url,
        tts_url=cartesia.url,
        llm_key="sk-wrong-0000000000000000",
    )

    error, session = await run_failing(bot, long_caller, tmp_path)

    assert error.stage == "OpenAILLM"
    assert error.reason == "401 Unauthorized"
    assert str(error) == (
        f"OpenAILLM could not connect to {openai.base_url}: 401 Unauthorized "
        "(check the api_key passed to OpenAILLM)"
    )
    assert len(openai.requests) == 1, "one refused request is enough"
    assert [t.user_text for t in session.turns if t.user_text] == [QUESTION]
    assert only_the_greeting_was_said(session), session.turns


async def test_openai_unreachable_on_the_first_request_ends_the_session(
    servers: Any, refusing_port: int, long_caller: Path, tmp_path: Path
) -> None:
    deepgram, cartesia, _ = servers
    url = f"http://127.0.0.1:{refusing_port}/v1"
    bot = cloud_bot(stt_url=deepgram.base_url, llm_url=url, tts_url=cartesia.url)

    error, session = await run_failing(bot, long_caller, tmp_path)

    assert error.stage == "OpenAILLM"
    assert error.reason == "connection refused"
    assert f"OpenAILLM could not connect to {url}: connection refused" in str(error)
    assert only_the_greeting_was_said(session), session.turns


# ---- a TTS context that makes no audio is not recorded as said -------------------------------


async def converse(
    tmp_path: Path, deepgram: Any, cartesia: Any, openai: OpenAIChatServer
) -> Session:
    """The greeting, then one question at 1 s; no vendor fails at start."""
    caller = write_caller_wav(tmp_path / "caller.wav", [(1.0, 1.2)], total_secs=4.0)
    bot = cloud_bot(stt_url=deepgram.base_url, llm_url=openai.base_url, tts_url=cartesia.url)
    transport = WavFile(input=caller, output=tmp_path / "bot.wav", linger_secs=1.0)
    session = bot.session(transport=transport, env=env())
    async with asyncio.timeout(BOUND_SECS):
        await session.run()
    return session


async def test_speech_whose_audio_never_came_is_not_recorded(
    deepgram_server_factory: Callable[..., Any],
    cartesia_server_factory: Callable[..., Any],
    tmp_path: Path,
) -> None:
    """A TTS that accepts every request and makes no audio (Pipecat's example: an unknown
    voice). Pipecat still passes each context's text on when the context ends; neither the
    greeting nor the answer may be recorded as said, nor put in the LLM's context."""
    deepgram = await deepgram_server_factory(api_key=DEEPGRAM_KEY, transcripts=[QUESTION])
    cartesia = await cartesia_server_factory(api_key=CARTESIA_KEY, seconds_per_char=0.0)
    async with OpenAIChatServer([text(ANSWER), text(ANSWER)], api_key=OPENAI_KEY) as openai:
        session = await converse(tmp_path, deepgram, cartesia, openai)

    transcripts = [c.transcript for c in cartesia.contexts()]
    assert GREETING in " ".join(transcripts) and ANSWER in " ".join(transcripts), transcripts
    assert [t.user_text for t in session.turns if t.user_text] == [QUESTION]
    assert bot_lines(session) == []
    assert [m["role"] for m in session.context.get_messages()] == ["user"]
    assert GREETING not in str(openai.requests[0].messages), "the LLM was told it was said"


async def test_speech_that_played_is_recorded_after_a_failed_context(
    deepgram_server_factory: Callable[..., Any],
    cartesia_server_factory: Callable[..., Any],
    tmp_path: Path,
) -> None:
    """Cartesia answers the greeting's context with an error (a mid-call error: the call goes
    on). The answer, which played with word timestamps, is recorded word for word."""
    deepgram = await deepgram_server_factory(api_key=DEEPGRAM_KEY, transcripts=[QUESTION])
    cartesia = await cartesia_server_factory(api_key=CARTESIA_KEY, fail_contexts=1)
    async with OpenAIChatServer([text(ANSWER)], api_key=OPENAI_KEY) as openai:
        session = await converse(tmp_path, deepgram, cartesia, openai)

    assert GREETING in cartesia.contexts()[0].transcript
    said = [(t.user_text, t.bot_text) for t in session.turns if t.user_text or t.bot_text]
    assert said == [(QUESTION, ANSWER)]
    assert GREETING not in str(openai.requests[0].messages)


# ---- a Daily room that cannot be joined -------------------------------------------------------


class RefusingCallClient:
    """daily-python's ``CallClient`` where the room cannot be joined: ``join`` completes at
    once with an error, as daily-core reports a failed room lookup. Every other call
    completes at once. Joining for real would reach Daily's servers over the internet
    (daily-core looks the room up there), which tests must not, so the SDK boundary is
    replaced: the name ``CallClient`` in Pipecat's Daily transport module."""

    ERROR = "RoomLookup(RoomInfoFetchFailed(connection refused))"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.joins: list[str] = []

    def join(self, url: str, *args: Any, completion: Any = None, **kwargs: Any) -> None:
        self.joins.append(url)
        completion(None, self.ERROR)

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, completion: Any = None, **kwargs: Any) -> None:
            if completion is not None:
                completion(None)

        return call


async def test_a_daily_room_that_cannot_be_joined_ends_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("pipecat.transports.daily.transport.CallClient", RefusingCallClient)
    room = "https://example.daily.co/no-such-room"
    bot = Bot(
        transport=DailyRoom(room_url=room),
        stt=FakeSTT(transcripts=[]),
        llm=FakeLLM(replies=[]),
        tts=FakeTTS(),
        vad=EnergyVAD(),
        turn=SilenceTurn(),
        greeting=GREETING,
    )
    session = bot.session(env={})
    with pytest.raises(VendorError) as raised:
        async with asyncio.timeout(BOUND_SECS):  # it used to wait for a participant for good
            await session.run()

    assert raised.value.stage == "DailyRoom"
    assert str(raised.value) == (
        f"DailyRoom could not connect: Error joining {room}: {RefusingCallClient.ERROR}"
    )
    assert bot_lines(session) == []


# ---- the command line ------------------------------------------------------------------------

BOT_FILE = """
import os
from voicebot import Bot, CartesiaTTS, DailyRoom, DeepgramSTT, OpenAILLM

port = os.environ["REFUSING_PORT"]
bot = Bot(
    stt=DeepgramSTT(base_url=f"ws://127.0.0.1:{port}"),
    llm=OpenAILLM(base_url=f"http://127.0.0.1:{port}/v1"),
    tts=CartesiaTTS(url=f"ws://127.0.0.1:{port}/tts/websocket"),
    vad="energy",
    turn="silence",
    greeting="Hello, this is the library.",
)
"""


def test_voicebot_run_with_unreachable_vendors_exits_with_one_line(
    refusing_port: int, long_caller: Path, tmp_path: Path
) -> None:
    bot_file = tmp_path / "unreachable_bot.py"
    bot_file.write_text(textwrap.dedent(BOT_FILE))
    run_env = {**os.environ, **env(), "REFUSING_PORT": str(refusing_port)}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "voicebot.cli", "run", str(bot_file)),
            *("--input", str(long_caller), "--output", str(tmp_path / "out.wav")),
        ],
        capture_output=True,
        text=True,
        env=run_env,
        cwd=tmp_path,
        timeout=BOUND_SECS + 30,  # + interpreter and Pipecat start-up
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    ours = [line for line in done.stderr.splitlines() if line.startswith("voicebot: ")]
    assert len(ours) == 1, done.stderr
    assert ours[0].startswith("voicebot: ")
    assert "could not connect to" in ours[0] and "connection refused" in ours[0]
    assert done.stderr.rstrip().splitlines()[-1] == ours[0]
    assert "bot:" not in done.stdout
