"""No zombies (#13 item 6): a session stops soon after its caller has gone, whatever its
vendors are doing, and still writes what it recorded.

The first tests hang each vendor on the last turn of a two-turn call (a recorded caller,
real Deepgram/OpenAI/Cartesia protocols on loopback): OpenAI hangs before its first byte or
stalls mid-stream; Deepgram's or Cartesia's network stalls (``StallProxy``: nothing moves,
sockets stay open, as with a hung host). The recording ends, the transport gives up on the
answer and cancels. Before the fix a stalled socket held the ``CancelFrame`` in Pipecat's
Deepgram service for its 20 s cancel timeout and the recording was never written.

What is asserted is what happened, not how fast: the transport gave up on the answer, Pipecat
never had to time the cancel out, the recording, the turn records, the turn log's close and
the memory's extraction were all done. Bounds are generous and only catch the old
behaviour (a 20 s cancel timeout, a 3600 s hung model, a 15 s reply played to nobody).

The others run the fakes on the virtual clock (``conftest.py``), where a hung model answers
after its 3600 s unless something ends the session first, so the virtual seconds a session
took say which way it ended.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.contract.servers.cartesia_tts import CartesiaTTSServer
from tests.contract.servers.deepgram_live import DeepgramLiveServer
from tests.contract.servers.openai_chat import text
from tests.contract.servers.stall_proxy import StallProxy
from tests.faults.openai_faults import FaultyOpenAIServer, Hang, Stall
from voicebot import Bot, CartesiaTTS, DeepgramSTT, EnergyVAD, OpenAILLM, SilenceTurn, WavFile
from voicebot.audio import read_wav
from voicebot.audio.segments import speech_segments
from voicebot.memory.memory import Memory
from voicebot.memory.sqlite import SQLiteStore
from voicebot.processors.heard_text import CUT_MARKER
from voicebot.providers.daily import DailyRoom
from voicebot.session import Session
from voicebot.session_end import BoundedWorker
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, write_caller_wav
from voicebot.transports.wav import WavFileTransport

#: The most any call here may take, whatever happens.
BOUND_SECS = 60.0
#: Generous bound on transport-gone to run-returned (the fix: ~1.5 s; the bug: 20 s or more).
GONE_BOUND_SECS = 10.0
QUICK_TURNS = dict(vad=EnergyVAD(stop_secs=0.2), turn=SilenceTurn(silence_secs=0.3))

# ---- the vendors hang on the last turn ---------------------------------------------------

DEEPGRAM_KEY = "dg-contract-key"
CARTESIA_KEY = "sk_car_contract"
QUESTIONS = ["First question.", "Second question."]
FIRST_ANSWER = "First answer."
#: The second question comes long after the first answer should have (a loaded machine
#: lags), so the fault meets the last turn, not a first answer still under way.
CALLER = [(1.0, 0.8), (5.0, 0.8)]
CALLER_SECS = 6.5
#: On the caller's timeline: stall the network before the second question, at the latest.
STALL_BY = 4.8


@dataclass
class Ended:
    """How a session ended, and what it left behind."""

    session: Session
    wav: WavFileTransport
    output: Path
    #: Loop seconds from the transport's finish (the caller gone) to ``run()`` returning.
    gone_to_returned: float
    #: Pipecat's ``on_pipeline_timeout``: the cancel had to be timed out (the bug).
    pipeline_timeouts: int
    closed: bool
    #: The vendor's fault really met the last turn (a request after the first answer).
    faulted: bool
    extracted: list[Any] = field(default_factory=list)


async def call_with_a_fault(
    tmp_path: Path, *, openai_script: list[Any], stall: str | None = None, after: int = 1
) -> Ended:
    """Two questions to a Deepgram → OpenAI → Cartesia bot; ``stall`` ("deepgram" or
    "cartesia") stalls that vendor's network once ``after`` answers are over (1: before the
    second question, at the latest at ``STALL_BY``; 2: after the last answer)."""
    caller = write_caller_wav(tmp_path / "caller.wav", CALLER, total_secs=CALLER_SECS)
    output = tmp_path / "bot.wav"
    deepgram = await DeepgramLiveServer(api_key=DEEPGRAM_KEY, transcripts=QUESTIONS).start()
    cartesia = await CartesiaTTSServer(api_key=CARTESIA_KEY, seconds_per_char=0.02).start()
    extracted: list[Any] = []

    def extract(entries: list[Any]) -> list[str]:
        extracted.append(entries)
        return []

    try:
        async with (
            FaultyOpenAIServer(openai_script) as openai,
            StallProxy(deepgram.port) as stt_net,
            StallProxy(cartesia.port) as tts_net,
        ):
            bot = Bot(
                # No interim results: the local server makes them of silence too, and each
                # would start a turn that cuts the answer before it.
                stt=DeepgramSTT(
                    base_url=f"ws://127.0.0.1:{stt_net.port}",
                    api_key=DEEPGRAM_KEY,
                    interim_results=False,
                ),
                llm=OpenAILLM(base_url=openai.base_url, api_key="sk-test"),
                tts=CartesiaTTS(
                    url=f"ws://127.0.0.1:{tts_net.port}/tts/websocket", api_key=CARTESIA_KEY
                ),
                memory=Memory(
                    user_id="caller-1", store=SQLiteStore(tmp_path / "m.db"), extract=extract
                ),
                **QUICK_TURNS,
            )
            transport = WavFile(input=caller, output=output, linger_secs=0.5, max_wait_secs=1.0)
            session = bot.session(transport=transport, env={})
            wav = session.transport
            assert isinstance(wav, WavFileTransport)
            loop = asyncio.get_running_loop()
            gone_at: list[float] = []
            timeouts: list[object] = []
            closed: list[bool] = []
            stalled: list[bool] = []  # whether the first answer was over when it stalled

            async def finished(_wav: Any) -> None:
                gone_at.append(loop.time())

            async def timed_out(_worker: Any, frame: object) -> None:
                timeouts.append(frame)

            wav.add_event_handler("on_finished", finished)
            session.worker.add_event_handler("on_pipeline_timeout", timed_out)
            session.turn_log.on_close(lambda: closed.append(True))

            async def stall_after_the_first_answer() -> None:
                if stall is None:
                    return
                by = STALL_BY if after == 1 else float("inf")
                while wav.timeline.now() < by and not answered(session, after):
                    await asyncio.sleep(0.02)
                stalled.append(answered(session, after))
                (stt_net if stall == "deepgram" else tts_net).stall()

            staller = asyncio.create_task(stall_after_the_first_answer())
            async with asyncio.timeout(BOUND_SECS):
                await session.run()
            returned_at = loop.time()
            staller.cancel()
            faulted = stalled == [True] if stall else len(openai.faults_served) == 1
    finally:
        await deepgram.stop()
        await cartesia.stop()
    assert gone_at, "the transport never finished"
    return Ended(
        session,
        wav,
        output,
        returned_at - gone_at[0],
        len(timeouts),
        closed=bool(closed),
        faulted=faulted,
        extracted=extracted,
    )


def assert_ended_and_written(ended: Ended, *, gave_up: bool = True) -> None:
    session, wav = ended.session, ended.wav
    assert ended.faulted, "the fault did not meet the last turn (the machine lagged?)"
    if gave_up:  # the caller left with the answer still owed
        assert wav.gave_up is not None and "still waiting for" in wav.gave_up
    assert isinstance(session.worker, BoundedWorker) and session.worker.released
    assert ended.pipeline_timeouts == 0, "Pipecat had to time the cancel out"
    assert ended.gone_to_returned < GONE_BOUND_SECS
    # The recording spans the call, with the first answer in it.
    assert read_wav(ended.output).duration_secs >= CALLER_SECS - 0.05
    assert speech_segments(read_wav(ended.output)), "no bot audio in the recording"
    assert [t.user_text for t in session.turns if t.user_text][:1] == [QUESTIONS[0]]
    assert ended.closed, "the turn log was not closed"
    (entries,) = ended.extracted  # memory.finish ran, with the transcript
    assert any(e["role"] == "user" and e["text"] == QUESTIONS[0] for e in entries), entries


@pytest.mark.real_time
async def test_openai_hanging_before_its_first_byte_on_the_last_turn(tmp_path: Path) -> None:
    ended = await call_with_a_fault(tmp_path, openai_script=[text(FIRST_ANSWER), Hang()])
    assert_ended_and_written(ended)
    assert "the LLM" in str(ended.wav.gave_up)


@pytest.mark.real_time
async def test_openai_stalling_mid_stream_on_the_last_turn(tmp_path: Path) -> None:
    ended = await call_with_a_fault(
        tmp_path, openai_script=[text(FIRST_ANSWER), Stall("Let me check")]
    )
    assert_ended_and_written(ended)
    assert "the LLM" in str(ended.wav.gave_up)


@pytest.mark.real_time
async def test_deepgram_stalling_on_the_last_turn(tmp_path: Path) -> None:
    ended = await call_with_a_fault(
        tmp_path, openai_script=[text(FIRST_ANSWER), text("Second answer.")], stall="deepgram"
    )
    assert_ended_and_written(ended)
    # The second question never came back from Deepgram; the stuck service was cleaned up.
    assert QUESTIONS[1] not in [t.user_text for t in ended.session.turns]


@pytest.mark.real_time
async def test_deepgram_stalling_after_the_last_answer(tmp_path: Path) -> None:
    """Nothing is owed when the recording ends, but Deepgram's closing handshake would hang
    on the stalled socket (the EndFrame the recording's end sent was held there for 21 s)."""
    answers = [text(FIRST_ANSWER), text("Second answer.")]
    ended = await call_with_a_fault(tmp_path, openai_script=answers, stall="deepgram", after=2)
    assert_ended_and_written(ended, gave_up=False)
    assert ended.wav.gave_up is None
    assert [t.bot_text for t in ended.session.turns if t.bot_text][-1] == "Second answer."


@pytest.mark.real_time
async def test_cartesia_stalling_on_the_last_turn(tmp_path: Path) -> None:
    ended = await call_with_a_fault(
        tmp_path, openai_script=[text(FIRST_ANSWER), text("Second answer.")], stall="cartesia"
    )
    assert_ended_and_written(ended)
    assert "Second answer." not in [t.bot_text for t in ended.session.turns]


# ---- ending and cancelling, with the fakes on the virtual clock ---------------------------


def fake_session(
    tmp_path: Path,
    *,
    replies: list[str],
    ttft_secs: float = 0.05,
    heard: tuple[str, ...] = ("Are you there?",),
    secs_per_char: float = 0.03,
    ttfb_secs: float = 0.05,
    **options: Any,
) -> Session:
    """One question at 0.3 s; the recording waits (almost) forever for its answer, so only
    the test ends the call."""
    caller = write_caller_wav(tmp_path / "caller.wav", [(0.3, 0.6)], total_secs=1.5)
    bot = Bot(
        stt=FakeSTT(transcripts=list(heard), latency_secs=0.05),
        tts=FakeTTS(ttfb_secs=ttfb_secs, secs_per_char=secs_per_char),
        **{"llm": FakeLLM(replies=replies, ttft_secs=ttft_secs), **QUICK_TURNS, **options},
    )
    transport = WavFile(
        input=caller, output=tmp_path / "bot.wav", linger_secs=1000.0, max_wait_secs=5000.0
    )
    return bot.session(transport=transport, env={})


async def run_and(
    session: Session, action: Callable[[], Awaitable[None]], bound: float = BOUND_SECS
) -> float:
    """Run ``session`` and ``action`` together; the loop seconds from the action's end to
    the session's return."""
    loop = asyncio.get_running_loop()
    acted: list[float] = []

    async def act() -> None:
        await action()
        acted.append(loop.time())

    async with asyncio.timeout(bound):
        await asyncio.gather(session.run(), act())
    return loop.time() - acted[0]


def worker(session: Session) -> BoundedWorker:
    assert isinstance(session.worker, BoundedWorker)
    return session.worker


def answered(session: Session, questions: int = 1) -> bool:
    """The caller's ``questions``-th question has been answered and heard, and nothing more
    is under way."""
    state = session.conversation
    return state.turn_id >= questions and state.pending() is None and bool(state.turn.heard)


async def asked(session: Session) -> None:
    """Until the caller's question has been put to the model."""
    while not session.conversation.answer_owed and session.conversation.responding_since is None:
        await session.conversation.wait_change(1.0)


async def test_an_end_held_up_by_a_hung_llm_is_cancelled(tmp_path: Path) -> None:
    session = fake_session(tmp_path, replies=["Yes."], ttft_secs=3600)

    async def end_with_a_goodbye() -> None:
        await asked(session)
        await session.end(goodbye="Goodbye.")  # queued behind the answer that never comes

    took = await run_and(session, end_with_a_goodbye)
    assert took < 60, f"ended after {took:.0f}s: waited for the hung model"
    assert "the end did not get through" in str(worker(session).forced)
    assert (tmp_path / "bot.wav").exists()


async def test_a_cancel_after_a_stuck_end_is_not_queued_behind_it(tmp_path: Path) -> None:
    """The caller hangs up while the bot's end waits on a hung model (measured: 118 s)."""
    session = fake_session(tmp_path, replies=["Yes."], ttft_secs=3600)
    worker(session).end_quiet_secs = 10_000  # only the cancel can end it here

    async def end_then_hang_up() -> None:
        await asked(session)
        await session.end(goodbye="Goodbye.")
        await asyncio.sleep(0.5)
        await session.cancel(reason="the caller hung up")

    took = await run_and(session, end_then_hang_up)
    assert took < 60, f"ended {took:.0f}s after the cancel"
    assert (tmp_path / "bot.wav").exists()


async def test_a_caller_who_hangs_up_mid_reply_is_not_talked_to(tmp_path: Path) -> None:
    """1 s into a 15 s reply (measured before: the reply played on to nobody for 14.6 s)."""
    reply = "Our opening hours change with the seasons, so let me go through them all. " * 4
    session = fake_session(tmp_path, replies=[reply], secs_per_char=0.05)  # ~15 s of speech

    async def hang_up_a_second_in() -> None:
        while not session.conversation.bot_speaking:
            await session.conversation.wait_change(1.0)
        await asyncio.sleep(1.0)
        await session.cancel(reason="the caller hung up")

    took = await run_and(session, hang_up_a_second_in)
    assert took < 5, f"the reply went on for {took:.1f}s after the caller left"
    speech = speech_segments(read_wav(tmp_path / "bot.wav"))
    assert sum(s.end - s.start for s in speech) < 5
    (turn,) = [t for t in session.turns if t.user_text]
    assert turn.bot_text.endswith(CUT_MARKER.strip()) or len(turn.bot_text) < len(reply) / 2


async def test_a_goodbye_a_hung_tts_cannot_say_does_not_hold_the_hang_up(tmp_path: Path) -> None:
    session = fake_session(tmp_path, replies=["Yes."], ttfb_secs=3600)  # the voice hangs

    async def hang_up() -> None:
        await asked(session)
        await session.hang_up(goodbye="Goodbye.")

    took = await run_and(session, hang_up)
    assert took < 60, f"ended after {took:.0f}s: waited for the hung TTS"
    assert "the end did not get through" in str(worker(session).forced)
    assert (tmp_path / "bot.wav").exists()


async def test_a_goodbye_longer_than_the_quiet_bound_is_still_said_in_full(tmp_path: Path) -> None:
    """The bound on an end counts silence, not speech: hang_up's promise is kept."""
    goodbye = "Thank you for calling the library, we hope to see you again very soon. " * 2
    session = fake_session(tmp_path, replies=["Yes, I am here."], secs_per_char=0.05)

    async def hang_up_after_the_answer() -> None:
        while not answered(session):
            await session.conversation.wait_change(1.0)
        await session.hang_up(goodbye=goodbye)

    await run_and(session, hang_up_after_the_answer)
    assert worker(session).forced is None
    assert session.tts.spoken == ["Yes, I am here.", goodbye]
    said = speech_segments(read_wav(tmp_path / "bot.wav"))[-1]
    assert said.end - said.start >= 0.9 * len(goodbye) * 0.05 > worker(session).end_quiet_secs


async def test_a_memory_extraction_that_hangs_does_not_hold_the_session(tmp_path: Path) -> None:
    async def extract(_entries: list[Any]) -> list[str]:
        await asyncio.Event().wait()  # an extraction asking a hung LLM
        return []

    memory = Memory(user_id="u1", store=SQLiteStore(tmp_path / "m.db"), extract=extract)
    session = fake_session(tmp_path, replies=["Yes."], memory=memory)

    async def hang_up() -> None:
        while not answered(session):
            await session.conversation.wait_change(1.0)
        await session.cancel(reason="the caller hung up")

    took = await run_and(session, hang_up, bound=600)
    assert took < 120  # FINISH_SECS (60 s) of the virtual clock, then the session returns


async def test_a_daily_participant_leaving_cancels_rather_than_ends() -> None:
    handlers: dict[str, Any] = {}
    cancelled: list[str | None] = []
    ended: list[bool] = []

    class Transport:
        def add_event_handler(self, name: str, handler: Any) -> None:
            handlers[name] = handler

    class Worker:
        async def cancel(self, *, reason: str | None = None) -> None:
            cancelled.append(reason)

    async def end() -> None:
        ended.append(True)

    DailyRoom(room_url="https://example.daily.co/room").on_client_gone(
        Transport(),  # type: ignore[arg-type]
        Worker(),  # type: ignore[arg-type]
        end,
    )
    await handlers["on_participant_left"](None, {"id": "p1"}, "leftCall")
    assert ended == [] and cancelled == ["the participant left (leftCall)"]


@pytest.mark.real_time
async def test_a_cancelled_session_stops_the_local_model_mid_prompt(tmp_path: Path) -> None:
    """llama.cpp evaluates a prompt in one call that checks nothing between tokens: measured,
    a session cancelled during a ~600-token prompt kept its thread (and the model, shared by
    every call) busy for 14.5 s. The evaluation is now aborted: it never completes."""
    pytest.importorskip("llama_cpp")
    from voicebot.providers.local import LlamaLLM

    question = "Tell me everything about the library and each of its rooms. " * 60
    llm = LlamaLLM(max_tokens=400, max_words=400)
    loaded = llm.loaded()
    with loaded.lock:
        loaded.llama.reset()  # nothing cached: the whole prompt is to be evaluated
    question_tokens = len(loaded.llama.tokenize(question.encode()))
    session = fake_session(tmp_path, replies=[], heard=(question,), llm=llm)

    async def hang_up_once_asked() -> None:
        await asked(session)
        await session.cancel(reason="the caller hung up")

    await run_and(session, hang_up_once_asked)
    async with asyncio.timeout(BOUND_SECS):
        assert await asyncio.to_thread(loaded.lock.acquire, True, BOUND_SECS)
    try:
        assert loaded.llama.n_tokens < question_tokens, "the prompt was evaluated to the end"
    finally:
        loaded.lock.release()


# ---- sessions that never connect ----------------------------------------------------------


async def _offer_that_never_connects() -> str:
    from aiortc import RTCPeerConnection

    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = str(pc.localDescription.sdp)
    await pc.close()  # the browser is gone before ICE could connect
    return sdp


@pytest.mark.real_time
async def test_a_browser_offer_that_never_connects_is_reaped_by_its_deadline() -> None:
    """Without the deadline it lived on for Pipecat's 60 s connecting timeout (or the 300 s
    idle timeout when ICE never starts)."""
    pytest.importorskip("aiortc")
    from voicebot.server.playground import Playground
    from voicebot.transports.webrtc import WebRTCPeer

    bot = Bot(
        transport=WebRTCPeer(connect_timeout_secs=0.5),
        stt=FakeSTT(transcripts=["Hello."]),
        llm=FakeLLM(replies=["Hi."]),
        tts=FakeTTS(),
        **QUICK_TURNS,
    )
    playground = Playground(bot)
    await playground.startup()
    try:
        answer = await playground.offer(
            {"sdp": await _offer_that_never_connects(), "type": "offer"}
        )
        live = playground.sessions[answer["pc_id"]]
        assert live.task is not None
        async with asyncio.timeout(30):  # half of Pipecat's own connecting timeout
            await asyncio.wait({live.task})
        assert live.ended_at is not None and playground.live() == []
    finally:
        await playground.shutdown()


# ---- the command line ---------------------------------------------------------------------

HUNG_LAST_TURN_BOT = """
import os
from voicebot import Bot, EnergyVAD, OpenAILLM, SilenceTurn
from voicebot.testing import FakeSTT, FakeTTS

bot = Bot(
    stt=FakeSTT(transcripts=["First question.", "Second question."], latency_secs=0.05),
    llm=OpenAILLM(base_url=os.environ["TEST_OPENAI_URL"], api_key="sk-test"),
    tts=FakeTTS(ttfb_secs=0.05, secs_per_char=0.02),
    vad=EnergyVAD(stop_secs=0.2),
    turn=SilenceTurn(silence_secs=0.3),
)
"""


@pytest.mark.real_time
async def test_voicebot_run_with_a_hung_llm_on_the_last_turn_writes_its_files_and_exits(
    tmp_path: Path,
) -> None:
    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "bot.py").write_text(HUNG_LAST_TURN_BOT)
    caller = write_caller_wav(tmp_path / "caller.wav", [(0.3, 0.6), (2.3, 0.6)], total_secs=3.5)
    out, turns = tmp_path / "reply.wav", tmp_path / "turns.jsonl"
    async with FaultyOpenAIServer([text(FIRST_ANSWER), Hang()]) as openai:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update(PYTHONPATH=str(repo), TEST_OPENAI_URL=openai.base_url)
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "voicebot.cli", "run", "bot.py", "--input", str(caller)),
            *("--output", str(out), "--turns", str(turns), "--linger", "0.5", "--max-wait", "1"),
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(120):  # the interpreter's start-up and imports included
            stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert "still waiting for the LLM" in stdout.decode()  # the report says what was missing
    assert read_wav(out).duration_secs >= 3.5 - 0.05
    records = [json.loads(line) for line in turns.read_text().splitlines()]
    assert [r["user_text"] for r in records if r["user_text"]] == [
        "First question.",
        "Second question.",
    ]
