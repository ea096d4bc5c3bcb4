"""examples/tools_appointments.py end to end, through the ``voicebot run`` command: the
bot checks a real SQLite schedule, books in the background, and the rows say so."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.conftest import REPO
from voicebot.cli import main

EXAMPLE = REPO / "examples" / "tools_appointments.py"


@pytest.mark.usefixtures("virtual_asyncio_run")
def test_the_appointments_example_books_a_slot_in_sqlite(caller_wav, tmp_path, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    db = tmp_path / "appointments.sqlite"
    monkeypatch.setenv("APPOINTMENTS_DB", str(db))
    monkeypatch.setenv("APPOINTMENTS_CONFIRM_SECS", "0.6")
    # Two of the example's three caller turns: "anything on Tuesday?", "eleven, for Ada".
    # The first answer (a tool call, then "Nine or eleven. Which one?") is over by about
    # 3.8 s; the second question comes well after it. The call then lasts until the
    # background booking's result has been spoken, however long that takes.
    caller = caller_wav([(0.3, 0.6), (5.5, 0.6)], total_secs=6.5)
    turns = tmp_path / "turns.jsonl"

    code = main(
        [
            *("run", str(EXAMPLE), "--input", str(caller), "--output", str(tmp_path / "bot.wav")),
            *("--turns", str(turns), "--linger", "0.8"),
        ]
    )

    assert code == 0
    with sqlite3.connect(db) as conn:
        appointments = conn.execute("SELECT name, day, time, confirmation_sent FROM appointments")
        assert appointments.fetchall() == [("Ada Lovelace", "tuesday", "11:00", 1)]
        slot = conn.execute("SELECT taken FROM slots WHERE day = 'tuesday' AND time = '11:00'")
        assert slot.fetchone() == (1,)
    records = [json.loads(line) for line in turns.read_text().splitlines()]
    check, book = (r for r in records if r["user_text"])
    assert check["tool_calls"][0]["result"] == {"day": "tuesday", "free": ["09:00", "11:00"]}
    assert book["tool_calls"][0]["result"]["confirmation"] == "sent"
    # The ack at once, the confirmation once the background booking was done.
    assert book["bot_text"] == "I'm booking that now. Booked, and your confirmation is sent."
    assert "tool book_appointment" in capsys.readouterr().out
