"""Second held-out set for offline tool routing: an airline's phone line.

Written after the first held-out set (the clinic) had been measured once and before any
change motivated by what that measurement showed, so that a change made after looking at
the clinic's misses still gets a measurement it was not tuned on. Not edited after it was
first run (its SHA-256 goes into the results). Same style: ASR-like lower case, fillers,
synonyms, indirect wording.
"""

from __future__ import annotations

from typing import Any, Literal

from voicebot import tool

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@tool
def book_flight(destination: str, day: Weekday) -> str:
    """Book a flight to a destination on a day of the week."""
    return "booked"


@tool
def cancel_booking(booking_reference: str) -> str:
    """Cancel a flight booking by its booking reference."""
    return "cancelled"


@tool
def flight_status(flight_number: str) -> str:
    """Whether a flight is on time, delayed or cancelled, by flight number."""
    return "on time"


@tool
def change_seat(preference: Literal["window", "aisle"]) -> str:
    """Change the caller's seat to a window or aisle seat."""
    return "changed"


@tool
def add_checked_bag(bags: int) -> str:
    """Add checked baggage to the caller's booking."""
    return "added"


@tool
def report_lost_luggage(description: str) -> str:
    """Report a suitcase or bag that did not arrive, with a description of it."""
    return "reported"


TOOLS = [
    book_flight,
    cancel_booking,
    flight_status,
    change_seat,
    add_checked_bag,
    report_lost_luggage,
]

CASES: list[tuple[str, str | None, dict[str, Any]]] = [
    # book_flight
    (
        "um i need to get to chicago on friday",
        "book_flight",
        {"destination": "chicago", "day": "friday"},
    ),
    (
        "can you get me a ticket to denver for monday",
        "book_flight",
        {"destination": "denver", "day": "monday"},
    ),
    (
        "i wanna fly out to miami saturday",
        "book_flight",
        {"destination": "miami", "day": "saturday"},
    ),
    (
        "so like reserve me a seat on something going to boston tuesday",
        "book_flight",
        {"destination": "boston", "day": "tuesday"},
    ),
    (
        "i'd like to travel to seattle this sunday",
        "book_flight",
        {"destination": "seattle", "day": "sunday"},
    ),
    (
        "put me on a plane to austin wednesday",
        "book_flight",
        {"destination": "austin", "day": "wednesday"},
    ),
    # cancel_booking
    (
        "i'm not going to make my trip anymore the reference is kx7p2",
        "cancel_booking",
        {"booking_reference": "kx7p2"},
    ),
    ("um please call off reservation ab12cd", "cancel_booking", {"booking_reference": "ab12cd"}),
    (
        "i want my ticket scrapped confirmation code zz9q",
        "cancel_booking",
        {"booking_reference": "zz9q"},
    ),
    (
        "so my plans changed and i won't be flying booking lm44",
        "cancel_booking",
        {"booking_reference": "lm44"},
    ),
    ("drop my reservation code pq81 please", "cancel_booking", {"booking_reference": "pq81"}),
    # flight_status
    ("is ua 212 running late", "flight_status", {"flight_number": "212"}),
    ("um has flight 880 left yet", "flight_status", {"flight_number": "880"}),
    (
        "what's going on with dl 45 is it still leaving at six",
        "flight_status",
        {"flight_number": "45"},
    ),
    ("will flight 1032 take off on schedule", "flight_status", {"flight_number": "1032"}),
    (
        "so like did flight 77 get delayed because of the storm",
        "flight_status",
        {"flight_number": "77"},
    ),
    ("my mom is coming in on 519 when does it land", "flight_status", {"flight_number": "519"}),
    # change_seat
    ("can i sit by the window", "change_seat", {"preference": "window"}),
    ("um i'd rather be on the aisle", "change_seat", {"preference": "aisle"}),
    ("i have long legs can you move me to an aisle spot", "change_seat", {"preference": "aisle"}),
    (
        "is there a window place free i want to look outside",
        "change_seat",
        {"preference": "window"},
    ),
    ("switch my seat please i don't like the middle one", "change_seat", {}),
    ("so like can i swap to the window", "change_seat", {"preference": "window"}),
    # add_checked_bag
    ("i'm bringing two suitcases", "add_checked_bag", {"bags": 2}),
    ("um can i put one more bag in the hold", "add_checked_bag", {"bags": 1}),
    ("i need to check in three pieces of luggage", "add_checked_bag", {"bags": 3}),
    ("how do i add a bag to my trip i have one big case", "add_checked_bag", {"bags": 1}),
    ("we'll have four bags to drop off", "add_checked_bag", {"bags": 4}),
    ("so like i've got a big suitcase that won't fit in the cabin", "add_checked_bag", {"bags": 1}),
    # report_lost_luggage
    ("my suitcase never showed up on the belt", "report_lost_luggage", {"description": "suitcase"}),
    ("um the airline lost my bag it's a red duffel", "report_lost_luggage", {"description": "red"}),
    ("i landed an hour ago and my luggage isn't here", "report_lost_luggage", {}),
    (
        "my black backpack didn't come off the plane",
        "report_lost_luggage",
        {"description": "black"},
    ),
    ("so like where's my stuff my case went missing", "report_lost_luggage", {}),
    (
        "i think you guys sent my bag somewhere else it's a green hard shell",
        "report_lost_luggage",
        {"description": "green"},
    ),
    # no tool
    ("hey there how's it going", None, {}),
    ("thanks that's all for now", None, {}),
    ("can i bring my dog on the plane", None, {}),
    ("how early should i be at the airport", None, {}),
    ("do you serve food on board", None, {}),
    ("what's the weather like in paris", None, {}),
    ("can i talk to a supervisor", None, {}),
    ("goodbye", None, {}),
    ("is there wifi on the flight", None, {}),
    ("what's the baggage weight limit", None, {}),
]
