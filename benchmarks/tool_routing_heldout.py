"""Held-out set for offline tool routing: a clinic's phone line, written once before tuning.

Not tuned on, not edited after tuning began (``benchmarks/offline_tool_routing.py`` records
this file's SHA-256 in its results). The requests are spoken style, as an ASR transcript
gives them: lower case, no punctuation, filler words, synonyms and indirect wording rather
than the tools' own words. The tools' descriptions are written as a developer would, before
any request was measured.
"""

from __future__ import annotations

from typing import Any, Literal

from voicebot import tool

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday"]
Day = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@tool
def book_appointment(day: Weekday, hour: int) -> str:
    """Book a new appointment at the clinic on a weekday at an hour (24 h clock)."""
    return "booked"


@tool
def cancel_appointment(day: Weekday) -> str:
    """Cancel the caller's existing appointment on a weekday."""
    return "cancelled"


@tool
def opening_hours(day: Day) -> str:
    """The clinic's opening hours on a day of the week."""
    return "8 to 18"


@tool
def find_doctor(specialty: str) -> str:
    """Find a doctor at the clinic by medical specialty."""
    return "Dr Smith"


@tool
def prescription_refill(medication: str) -> str:
    """Request a refill of a prescription for a medication."""
    return "requested"


@tool
def get_directions(from_place: str = "") -> str:
    """Directions to the clinic, optionally from where the caller is."""
    return "turn left"


TOOLS = [
    book_appointment,
    cancel_appointment,
    opening_hours,
    find_doctor,
    prescription_refill,
    get_directions,
]

# (request, expected tool or None, expected arguments: strings are checked as substrings)
CASES: list[tuple[str, str | None, dict[str, Any]]] = [
    # book_appointment
    (
        "um so like i need to see someone on tuesday around ten",
        "book_appointment",
        {"day": "tuesday", "hour": 10},
    ),
    (
        "could you get me in with the doctor thursday at two in the afternoon",
        "book_appointment",
        {"day": "thursday", "hour": 14},
    ),
    (
        "i'd like to schedule a checkup for monday at nine",
        "book_appointment",
        {"day": "monday", "hour": 9},
    ),
    (
        "is there a slot free on friday at eleven i want to come in",
        "book_appointment",
        {"day": "friday", "hour": 11},
    ),
    (
        "put me down for a visit wednesday at 3 pm",
        "book_appointment",
        {"day": "wednesday", "hour": 15},
    ),
    (
        "yeah hi i wanna make a booking for monday morning at eight",
        "book_appointment",
        {"day": "monday", "hour": 8},
    ),
    # cancel_appointment
    ("i can't make it on thursday anymore", "cancel_appointment", {"day": "thursday"}),
    ("um please call off my visit on friday", "cancel_appointment", {"day": "friday"}),
    ("i need to cancel what i had booked for tuesday", "cancel_appointment", {"day": "tuesday"}),
    (
        "so like something came up and i won't be coming in on monday",
        "cancel_appointment",
        {"day": "monday"},
    ),
    ("scrap my wednesday appointment please", "cancel_appointment", {"day": "wednesday"}),
    # opening_hours
    ("what time do you guys open on saturday", "opening_hours", {"day": "saturday"}),
    ("are you open on sunday", "opening_hours", {"day": "sunday"}),
    ("um until when are you there on friday evening", "opening_hours", {"day": "friday"}),
    ("when do you close today", "opening_hours", {}),
    ("what are your hours on wednesday", "opening_hours", {"day": "wednesday"}),
    ("is the clinic still open late on thursdays", "opening_hours", {"day": "thursday"}),
    # find_doctor
    ("do you have someone who deals with skin problems", "find_doctor", {"specialty": "skin"}),
    ("i'm looking for a heart specialist", "find_doctor", {"specialty": "heart"}),
    ("um is there a children's doctor at your place", "find_doctor", {"specialty": "child"}),
    ("which of your physicians treats back pain", "find_doctor", {"specialty": "back"}),
    ("i need a dermatologist", "find_doctor", {"specialty": "dermatolog"}),
    ("so like who can i see for my knees like a bone doctor", "find_doctor", {"specialty": "bone"}),
    # prescription_refill
    (
        "i'm running out of my blood pressure pills",
        "prescription_refill",
        {"medication": "blood pressure"},
    ),
    ("um can i get more of my insulin", "prescription_refill", {"medication": "insulin"}),
    ("i need a renewal on my metformin script", "prescription_refill", {"medication": "metformin"}),
    (
        "my inhaler is almost empty can you sort that out",
        "prescription_refill",
        {"medication": "inhaler"},
    ),
    (
        "could the doctor reorder my allergy medicine",
        "prescription_refill",
        {"medication": "allergy"},
    ),
    # get_directions
    (
        "how do i get to you from the train station",
        "get_directions",
        {"from_place": "train station"},
    ),
    ("um so like where exactly are you located", "get_directions", {}),
    (
        "i'm driving over from riverside which way do i go",
        "get_directions",
        {"from_place": "riverside"},
    ),
    (
        "what's the best route to the clinic from downtown",
        "get_directions",
        {"from_place": "downtown"},
    ),
    ("whats your address", "get_directions", {}),
    (
        "i'm at the bus stop on main street how do i find the building",
        "get_directions",
        {"from_place": "main street"},
    ),
    # no tool: small talk, and questions no tool covers
    ("hi there good morning", None, {}),
    ("thanks so much that's all i needed", None, {}),
    ("um do you guys take my insurance", None, {}),
    ("how much does a checkup cost", None, {}),
    ("can i talk to a real person", None, {}),
    ("what's the weather going to be like tomorrow", None, {}),
    ("is it okay to take ibuprofen with coffee", None, {}),
    ("okay bye", None, {}),
    ("who am i speaking with", None, {}),
    ("my test results came back what do they mean", None, {}),
]
