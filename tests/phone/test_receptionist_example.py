"""examples/phone_receptionist.py with fakes for STT, LLM and TTS (no model loads), served and
called twice over the Twilio protocol from the same number: the first call books an
appointment (kept with the caller's number) and the model remembers the caller's name; the
second call starts with that fact in the model's context, because memory is keyed by the
caller's number. The tools themselves are checked directly."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import load_example
from tests.phone.conftest import TURN_1
from tests.phone.twilio_fakes import TwilioCaller, served_worker
from voicebot import EnergyVAD, SilenceTurn
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, ToolCall

CALLER = "+15550001111"


def _receptionist(tmp_path: Path) -> Any:
    module = load_example("phone_receptionist.py", "receptionist_example")
    return module, module.make_bot(
        db=tmp_path / "clinic.sqlite",
        memory_db=tmp_path / "memory.db",
        front_desk="sip:desk@127.0.0.1",
    )


def test_the_tools_answer_from_the_schedule(tmp_path: Path) -> None:
    module, bot = _receptionist(tmp_path)
    tools = {t.name: t.function for t in bot.tools}
    assert set(tools) == {
        "opening_hours",
        "check_availability",
        "book_appointment",
        "transfer_call",
        "end_call",
    }
    assert tools["opening_hours"]("Sunday") == {"day": "sunday", "hours": "closed"}
    assert tools["check_availability"]("sunday")["free"] == []
    assert tools["check_availability"]("tuesday")["free"] == list(module.TIMES)
    assert bot.greeting and "Riverside" in bot.greeting


@pytest.mark.real_time
async def test_two_calls_from_one_number_book_and_remember(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_KEY", "TWILIO_API_SECRET"):
        monkeypatch.delenv(name, raising=False)  # no REST hang-up to a real Twilio
    _module, receptionist = _receptionist(tmp_path)
    bot = receptionist.replace(
        stt=FakeSTT(transcripts=["Hi, this is Ada. Can I come in Tuesday at ten?"]),
        llm=FakeLLM(
            replies=[
                [
                    ToolCall("remember", {"fact": "The caller's name is Ada Lovelace."}),
                    ToolCall(
                        "book_appointment",
                        {"name": "Ada Lovelace", "day": "Tuesday", "time_of_day": "10:00"},
                    ),
                ],
                "You're booked for Tuesday at ten, Ada.",
            ],
            ttft_secs=0.05,
        ),
        tts=FakeTTS(ttfb_secs=0.05),
        vad=EnergyVAD(),
        turn=SilenceTurn(silence_secs=0.4),
    )
    with served_worker(bot) as worker:

        def finished_tools(call_id: str) -> bool:
            session = worker.session(call_id)
            done = [c for t in (session.turns if session else []) for c in t.tool_calls]
            return sum(c.result is not None for c in done) >= 2

        first = f"test-receptionist-{uuid.uuid4().hex[:8]}"
        url = worker.ws(f"/phone/ws/twilio?call_id={first}")
        await TwilioCaller(parameters={"from_number": CALLER}).call(
            url, TURN_1, lambda: finished_tools(first)
        )
        worker.wait_for(lambda: first not in worker.calls(), "the first call ended")
        with sqlite3.connect(tmp_path / "clinic.sqlite") as db:
            rows = db.execute("SELECT day, time, name, phone FROM appointments").fetchall()
        assert rows == [("tuesday", "10:00", "Ada Lovelace", CALLER)]

        second = f"test-receptionist-{uuid.uuid4().hex[:8]}"
        asked: list[Any] = []

        def llm_asked() -> bool:
            session = worker.session(second)
            if session is not None and session.llm.requests:
                asked.append(session.llm.requests[0])
            return bool(asked)

        url = worker.ws(f"/phone/ws/twilio?call_id={second}")
        await TwilioCaller(parameters={"from_number": CALLER}).call(url, TURN_1, llm_asked)
        worker.wait_for(lambda: second not in worker.calls(), "the second call ended")
        context = " ".join(str(m.get("content")) for m in asked[0])
        assert "Ada Lovelace" in context, "the second call from the number did not remember"
        assert worker.session(second).memory.user_id == CALLER
