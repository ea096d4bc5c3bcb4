r"""A clinic receptionist that answers the phone: opening hours, appointments, a human at the
front desk when the caller needs one, and a memory of each caller by their phone number.

Offline by default (Whisper, the local LLM and Piper; no keys, no network). Serve it and
call it over the Twilio protocol with the streamdouble simulator, all on this machine::

    voicebot serve examples/phone_receptionist.py &
    streamdouble call "ws://127.0.0.1:7860/phone/ws/twilio" \
        --audio examples/audio/appointments.wav --param from_number=+15550001111 \
        --out reply.wav

For real calls, point a Twilio number's "A call comes in" webhook at
``https://HOST/phone/twilio`` (docs/telephony.md). What it can do:

- ``opening_hours(day)`` and ``check_availability(day)`` answer from the clinic's schedule;
- ``book_appointment(name, day, time_of_day)`` books a free slot in a SQLite file
  (``$RECEPTIONIST_DB``, default ``out/receptionist.sqlite``), with the caller's number;
- ``transfer_call`` hands the call to the front desk (``$CLINIC_FRONT_DESK``, a number or a
  SIP URI) with the handoff package: it needs Twilio REST credentials
  (``TWILIO_ACCOUNT_SID`` + ``TWILIO_AUTH_TOKEN``) or a ``SIP(...)`` call;
- ``end_call`` hangs up after the goodbye;
- ``remember(fact)``: what a caller tells about themselves is kept under their phone number
  (``$RECEPTIONIST_MEMORY``, default ``out/receptionist_memory.db``), so the next call from
  the same number starts knowing it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from loguru import logger

from voicebot import Bot, tool
from voicebot.memory import Memory, SQLiteStore
from voicebot.tools.builtin import end_call, transfer_call_tool

CLINIC = "Riverside Family Clinic"
HOURS = {
    "monday": "8 am to 6 pm",
    "tuesday": "8 am to 6 pm",
    "wednesday": "8 am to 6 pm",
    "thursday": "8 am to 8 pm",
    "friday": "8 am to 5 pm",
    "saturday": "9 am to 1 pm",
    "sunday": "closed",
}
TIMES = ("09:00", "10:00", "11:00", "14:00", "15:00", "16:00")
#: A placeholder front desk: set CLINIC_FRONT_DESK to your staff's number or SIP URI.
FRONT_DESK = "+15550100200"

SYSTEM_PROMPT = f"""You are the receptionist of the {CLINIC}, answering the phone.
Your replies are spoken: one or two short, plain sentences, no lists.
Use the tools for opening hours, free times and bookings; never guess them.
Before booking, get the caller's name, the day and a time that check_availability offered.
Medical questions, test results, billing, or a caller who asks for a person: transfer_call.
In an emergency, tell the caller to hang up and dial 911 now.
When the caller has what they need and says goodbye, say goodbye and call end_call.
If the caller tells you their name or something useful for next time, call remember."""


def set_up_schedule(path: Path) -> None:
    """The clinic's slots (created once; bookings are kept across runs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE IF NOT EXISTS appointments (
                day TEXT NOT NULL,
                time TEXT NOT NULL,
                name TEXT NOT NULL,
                phone TEXT,
                PRIMARY KEY (day, time)
            );
            """
        )


def caller_number() -> str | None:
    """The number of the caller this tool call is for (None off the phone)."""
    from voicebot.session import current_session
    from voicebot.transports.phone import phone_call

    call = phone_call(current_session())
    return call.from_number if call is not None else None


def make_tools(path: Path, front_desk: str) -> list[Any]:
    @tool(
        filler=None,
        examples=[
            "are you open on saturday",
            "what time do you close on friday",
            "when do you open tomorrow morning",
            "what are your hours on monday",
        ],
    )
    def opening_hours(day: str) -> dict[str, str]:
        """The clinic's opening hours on a day of the week (e.g. "saturday")."""
        day = day.strip().lower()
        return {"day": day, "hours": HOURS.get(day, "unknown: ask for a day of the week")}

    @tool(
        filler_after_secs=0.7,
        examples=[
            "have you got anything free on thursday",
            "what times are left on monday",
            "is there a slot on wednesday",
            "when can the dentist see me this week",
        ],
    )
    def check_availability(day: str) -> dict[str, Any]:
        """Free appointment times on a day of the week."""
        day = day.strip().lower()
        if HOURS.get(day, "closed") == "closed":
            return {"day": day, "free": [], "note": "the clinic is closed that day"}
        with sqlite3.connect(path) as db:
            taken = {
                t for (t,) in db.execute("SELECT time FROM appointments WHERE day = ?", (day,))
            }
        return {"day": day, "free": [t for t in TIMES if t not in taken]}

    @tool(
        filler_after_secs=0.7,
        examples=[
            "book me in for tuesday at ten",
            "i'll take the two o'clock on friday",
            "put me down for wednesday at nine my name is sam",
            "yes that time works book it",
        ],
    )
    def book_appointment(name: str, day: str, time_of_day: str) -> dict[str, Any]:
        """Book a free time (from check_availability) for the caller, by name."""
        day, phone = day.strip().lower(), caller_number()
        if time_of_day not in TIMES or HOURS.get(day, "closed") == "closed":
            return {"booked": False, "reason": f"{day} {time_of_day} is not a clinic time"}
        try:
            with sqlite3.connect(path) as db:
                db.execute(
                    "INSERT INTO appointments (day, time, name, phone) VALUES (?, ?, ?, ?)",
                    (day, time_of_day, name, phone),
                )
        except sqlite3.IntegrityError:
            return {"booked": False, "reason": f"{day} {time_of_day} was just taken"}
        logger.info(f"receptionist: booked {day} {time_of_day} for {name}")
        return {"booked": True, "day": day, "time": time_of_day, "name": name}

    transfer = transfer_call_tool(
        to=front_desk,
        say="Let me put you through to the front desk. Please hold.",
        on_handoff=lambda package: logger.info(
            f"receptionist: handoff to the front desk: {package['transfer']['reason']}"
        ),
    )
    return [opening_hours, check_availability, book_appointment, transfer, end_call]


def make_bot(
    *,
    db: Path | None = None,
    memory_db: Path | None = None,
    front_desk: str | None = None,
) -> Bot:
    """The receptionist (offline models); paths and the front desk from the environment."""
    db = db or Path(os.environ.get("RECEPTIONIST_DB", "out/receptionist.sqlite"))
    memory_db = memory_db or Path(
        os.environ.get("RECEPTIONIST_MEMORY", "out/receptionist_memory.db")
    )
    set_up_schedule(db)
    memory_db.parent.mkdir(parents=True, exist_ok=True)
    return Bot(
        greeting=f"Thank you for calling the {CLINIC}. How can I help you today?",
        system_prompt=SYSTEM_PROMPT,
        tools=make_tools(db, front_desk or os.environ.get("CLINIC_FRONT_DESK", FRONT_DESK)),
        # user_id on a phone call is the caller's number: each caller's own memory.
        memory=Memory(store=SQLiteStore(memory_db)),
    )


def bot() -> Bot:
    """What `voicebot serve` / `voicebot run` load."""
    return make_bot()
