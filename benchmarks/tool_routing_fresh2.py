"""Second fresh set for offline tool routing: a hotel's front desk and a car repair garage.

Written on 2026-12-02 (session 3) before any routing change of that session; kept outside the
repository while the router was tuned on every earlier set (including the first fresh set),
and run once at the end. Not edited after it was first run (its SHA-256 goes into the
results). ASR-like lower case, fillers, synonyms, indirect wording; some requests need no tool.
"""

from __future__ import annotations

from typing import Any, Literal

from voicebot import tool

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@tool
def book_room(nights: int, room_type: Literal["single", "double", "suite"]) -> str:
    """Book a hotel room of a given type for a number of nights."""
    return "booked"


@tool
def request_housekeeping(room_number: str) -> str:
    """Send housekeeping to clean a guest's room or bring fresh towels and sheets."""
    return "on the way"


@tool
def late_checkout(room_number: str) -> str:
    """Ask to leave the room later than the usual checkout time."""
    return "granted until two"


@tool
def order_room_service(item: str) -> str:
    """Order food or drinks from the kitchen delivered to the guest's room."""
    return "ordered"


@tool
def wake_up_call(time: str) -> str:
    """Set a morning wake-up call for a given time."""
    return "set"


@tool
def book_taxi(destination: str) -> str:
    """Arrange a taxi from the hotel to a destination."""
    return "booked"


TOOLS = [book_room, request_housekeeping, late_checkout, order_room_service, wake_up_call,
         book_taxi]

CASES: list[tuple[str, str | None, dict[str, Any]]] = [
    ("hi i'd like a double room for three nights", "book_room",
     {"nights": 3, "room_type": "double"}),
    ("do you have a suite free we'd stay two nights", "book_room",
     {"nights": 2, "room_type": "suite"}),
    ("um can i get a single just for one night", "book_room",
     {"nights": 1, "room_type": "single"}),
    ("we need somewhere to sleep for four nights a double is fine", "book_room",
     {"nights": 4, "room_type": "double"}),
    ("could someone come and tidy up room 214", "request_housekeeping",
     {"room_number": "214"}),
    ("we've run out of towels in 508", "request_housekeeping", {"room_number": "508"}),
    ("the bed in 37 hasn't been made today", "request_housekeeping", {"room_number": "37"}),
    ("is it possible to stay in the room a bit longer tomorrow it's 411", "late_checkout",
     {"room_number": "411"}),
    ("our flight is in the evening can we keep room 120 past noon", "late_checkout",
     {"room_number": "120"}),
    ("uh can we hand the key back later than eleven room 902", "late_checkout",
     {"room_number": "902"}),
    ("could you send up a club sandwich", "order_room_service", {"item": "club sandwich"}),
    ("i'm starving can i get a pizza brought to my room", "order_room_service",
     {"item": "pizza"}),
    ("a bottle of red wine to the room please", "order_room_service", {"item": "red wine"}),
    ("i'd like some breakfast delivered upstairs pancakes", "order_room_service",
     {"item": "pancakes"}),
    ("please ring me at six thirty tomorrow", "wake_up_call", {"time": "6:30"}),
    ("can you make sure i'm up by seven", "wake_up_call", {"time": "7:00"}),
    ("i need a call at five am i have an early train", "wake_up_call", {"time": "5:00"}),
    ("i need a cab to the airport", "book_taxi", {"destination": "airport"}),
    ("can you get me a ride to the train station in an hour", "book_taxi",
     {"destination": "train station"}),
    ("we're heading to the museum could you call a car", "book_taxi",
     {"destination": "museum"}),
    ("good evening", None, {}),
    ("is there a pool", None, {}),
    ("what's the wifi password", None, {}),
    ("do you allow dogs", None, {}),
    ("okay that's all thanks", None, {}),
]


@tool
def book_service(day: Weekday) -> str:
    """Book the car in for a service or repair at the garage on a day of the week."""
    return "booked"


@tool
def repair_status(registration: str) -> str:
    """Whether the repair on a car is finished, by its registration plate."""
    return "ready at four"


@tool
def quote_tyres(size: str) -> str:
    """A price for new tyres of a given size."""
    return "eighty each"


@tool
def breakdown_recovery(location: str) -> str:
    """Send a recovery truck to a broken-down car at a location."""
    return "truck sent"


@tool
def mot_due_date(registration: str) -> str:
    """When a car's next MOT roadworthiness test is due, by its registration plate."""
    return "in march"


@tool
def cancel_booking(day: Weekday) -> str:
    """Cancel a garage appointment booked for a day of the week."""
    return "cancelled"


GARAGE_TOOLS = [book_service, repair_status, quote_tyres, breakdown_recovery, mot_due_date,
                cancel_booking]

GARAGE_CASES: list[tuple[str, str | None, dict[str, Any]]] = [
    ("i'd like to bring my car in on wednesday it's making a funny noise", "book_service",
     {"day": "wednesday"}),
    ("can i get an oil change done friday", "book_service", {"day": "friday"}),
    ("the brakes are squeaking can you look at them monday", "book_service",
     {"day": "monday"}),
    ("is my car done yet the reg is ab12 cde", "repair_status", {"registration": "ab12 cde"}),
    ("um have you finished working on kx19 fjd", "repair_status",
     {"registration": "kx19 fjd"}),
    ("when can i pick up my van it's yt68 ppl", "repair_status",
     {"registration": "yt68 ppl"}),
    ("how much for four new tyres 205 55 r16", "quote_tyres", {"size": "205 55 r16"}),
    ("what would you charge for tires size 225 45 r17", "quote_tyres",
     {"size": "225 45 r17"}),
    ("i need new rubber on the front what's the price for 195 65 r15", "quote_tyres",
     {"size": "195 65 r15"}),
    ("my car just died on the a40 near the roundabout", "breakdown_recovery",
     {"location": "a40"}),
    ("i'm stuck on the hard shoulder of the m25 can you tow me", "breakdown_recovery",
     {"location": "m25"}),
    ("the engine won't start i'm in the tesco car park on high street", "breakdown_recovery",
     {"location": "tesco car park"}),
    ("when does ab12 cde need its mot", "mot_due_date", {"registration": "ab12 cde"}),
    ("is my roadworthiness test coming up soon reg lm70 xyz", "mot_due_date",
     {"registration": "lm70 xyz"}),
    ("can you check when the test expires on gf21 hhk", "mot_due_date",
     {"registration": "gf21 hhk"}),
    ("i won't make my appointment on thursday", "cancel_booking", {"day": "thursday"}),
    ("please call off the tuesday slot", "cancel_booking", {"day": "tuesday"}),
    ("something came up i need to drop saturday's booking", "cancel_booking",
     {"day": "saturday"}),
    ("hello there", None, {}),
    ("do you sell used cars", None, {}),
    ("what are your opening hours", None, {}),
    ("can i pay by card", None, {}),
    ("cheers bye", None, {}),
]
