"""An appointment-booking bot whose tools use a real SQLite database.

- ``check_availability`` is **blocking**: the model waits for the free slots before it
  answers (a slow lookup would get a "One moment." filler).
- ``book_appointment`` is **background**: the bot says "I'm booking that now." at once,
  the booking and its confirmation email (about 3 s) run while the conversation goes on,
  and the result is spoken when neither the bot nor the caller is talking.

STT, LLM and TTS are fakes with vendor-like delays, so it runs anywhere, with no keys::

    voicebot run examples/tools_appointments.py \\
        --input examples/audio/appointments.wav --output out/appointments_reply.wav

The database is ``out/appointments.sqlite`` (or ``$APPOINTMENTS_DB``), set up afresh on each
run so the scripted model always finds the same free slots; look inside afterwards with
``sqlite3 out/appointments.sqlite 'select * from appointments'``. ``$APPOINTMENTS_CONFIRM_SECS``
changes how long the confirmation takes.

The caller, ``examples/audio/appointments.wav``, was made with espeak-ng and sox (16 kHz
mono, each utterance without punctuation so it has no inner pause over 0.1 s)::

    espeak-ng -v en-us -s 170 -w u1.wav "Hi do you have anything on Tuesday morning"
    sox u1.wav -r 16000 -c 1 -b 16 u1_16k.wav norm -1 silence 1 0.01 1% reverse \\
        silence 1 0.01 1% reverse        # likewise u2, u3; then padded and concatenated
    # u1 at 0.5 s, u2 ("Eleven please for Ada Lovelace") at 7.3 s,
    # u3 ("Thank you goodbye") at 18 s; 21 s in all

The recording is clean synthetic speech, so an energy VAD hears it exactly; on a real line
use ``vad="silero"``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from voicebot import Bot, EnergyVAD, SilenceTurn, tool
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS, ToolCall

DEFAULT_DB = Path("out/appointments.sqlite")
SLOTS = [
    ("tuesday", "09:00", 0),
    ("tuesday", "10:00", 1),  # already taken
    ("tuesday", "11:00", 0),
    ("wednesday", "14:00", 0),
]


def set_up_database(path: Path) -> None:
    """A fresh schedule: the slots above, no appointments."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            DROP TABLE IF EXISTS slots;
            DROP TABLE IF EXISTS appointments;
            CREATE TABLE slots (day TEXT, time TEXT, taken INTEGER, PRIMARY KEY (day, time));
            CREATE TABLE appointments (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                day TEXT NOT NULL,
                time TEXT NOT NULL,
                confirmation_sent INTEGER NOT NULL DEFAULT 0
            );
            """
        )
        db.executemany("INSERT INTO slots VALUES (?, ?, ?)", SLOTS)


def make_tools(path: Path, confirm_secs: float) -> list:  # type: ignore[type-arg]
    @tool(
        filler_after_secs=0.7,
        examples=[
            "have you got anything free on thursday",
            "what times are left on monday",
            "is there a slot on wednesday",
            "when could i come in this week",
        ],
    )
    def check_availability(day: str) -> dict:
        """Free appointment times on a day of the week (e.g. "tuesday")."""
        with sqlite3.connect(path) as db:
            rows = db.execute(
                "SELECT time FROM slots WHERE day = ? AND taken = 0 ORDER BY time",
                (day.lower(),),
            ).fetchall()
        return {"day": day.lower(), "free": [t for (t,) in rows]}

    @tool(
        policy="background",
        ack="I'm booking that now.",
        timeout_secs=30,
        examples=[
            "book me in for tuesday at ten",
            "i'll take the two o'clock on friday",
            "put me down for wednesday at nine my name is sam",
            "yes book that one",
        ],
    )
    def book_appointment(name: str, day: str, time_of_day: str) -> dict:
        """Book a free slot for a person and email them a confirmation."""
        with sqlite3.connect(path) as db:
            taken = db.execute(
                "UPDATE slots SET taken = 1 WHERE day = ? AND time = ? AND taken = 0",
                (day.lower(), time_of_day),
            ).rowcount
            if not taken:
                return {"booked": False, "reason": f"{day} {time_of_day} is not free"}
            booking = db.execute(
                "INSERT INTO appointments (name, day, time) VALUES (?, ?, ?)",
                (name, day.lower(), time_of_day),
            ).lastrowid
        time.sleep(confirm_secs)  # the confirmation email (a slow mail API)
        with sqlite3.connect(path) as db:
            db.execute("UPDATE appointments SET confirmation_sent = 1 WHERE id = ?", (booking,))
        return {"booked": True, "reference": f"A-{booking}", "confirmation": "sent"}

    return [check_availability, book_appointment]


def make_bot(path: Path = DEFAULT_DB, *, confirm_secs: float = 3.0) -> Bot:
    set_up_database(path)
    return Bot(
        stt=FakeSTT(
            transcripts=[
                "Hi, do you have anything on Tuesday morning?",
                "Eleven, please, for Ada Lovelace.",
                "Thank you, goodbye.",
            ],
            latency_secs=0.15,
        ),
        llm=FakeLLM(
            replies=[
                ToolCall("check_availability", {"day": "tuesday"}),
                "Nine or eleven. Which one?",
                ToolCall(
                    "book_appointment",
                    {"name": "Ada Lovelace", "day": "tuesday", "time_of_day": "11:00"},
                ),
                # After the booking's result arrives (the ack was spoken by voicebot):
                "Booked, and your confirmation is sent.",
                "Goodbye!",
            ],
            ttft_secs=0.3,
        ),
        tts=FakeTTS(ttfb_secs=0.15),
        vad=EnergyVAD(),
        turn=SilenceTurn(silence_secs=0.4),
        system_prompt=(
            "You book appointments at a clinic. Check availability before offering a time; "
            "book only a time the caller chose. Answer in one short spoken sentence."
        ),
        tools=make_tools(path, confirm_secs),
    )


def bot() -> Bot:
    """The bot ``voicebot run`` loads: database and confirmation time from the environment."""
    return make_bot(
        Path(os.environ.get("APPOINTMENTS_DB", DEFAULT_DB)),
        confirm_secs=float(os.environ.get("APPOINTMENTS_CONFIRM_SECS", "3.0")),
    )
