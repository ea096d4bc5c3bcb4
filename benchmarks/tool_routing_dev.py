"""Dev set for offline tool routing: a hotel front desk. Tuned on (with the 24 cases of
``offline_tools.py``); the clinic set in ``tool_routing_heldout.py`` is the one reported
untouched. Spoken style like the held-out set: lower case, fillers, synonyms.
"""

from __future__ import annotations

from typing import Any, Literal

from voicebot import tool


@tool
def book_room(nights: int, guests: int = 1) -> str:
    """Reserve a hotel room for a number of nights and guests."""
    return "reserved"


@tool
def order_room_service(item: str) -> str:
    """Order food or drinks delivered to the guest's room."""
    return "on its way"


@tool
def late_checkout(hour: int) -> str:
    """Ask to check out of the room later than usual, at an hour (24 h clock)."""
    return "granted"


@tool
def wake_up_call(hour: int) -> str:
    """Schedule a wake-up call to the room at an hour (24 h clock)."""
    return "scheduled"


@tool
def call_taxi(destination: str) -> str:
    """Call a taxi to take the guest to a destination."""
    return "ten minutes"


@tool
def report_problem(issue: str) -> str:
    """Report something broken or not working in the guest's room to maintenance."""
    return "reported"


TOOLS = [book_room, order_room_service, late_checkout, wake_up_call, call_taxi, report_problem]

CASES: list[tuple[str, str | None, dict[str, Any]]] = [
    ("um hi i'd like a room for three nights", "book_room", {"nights": 3}),
    (
        "do you have anything available for two people this weekend two nights",
        "book_room",
        {"nights": 2, "guests": 2},
    ),
    ("can i stay with you guys for a week", "book_room", {"nights": 7}),
    ("we need accommodation for four of us one night", "book_room", {"nights": 1, "guests": 4}),
    ("so like is there a double free for tonight", "book_room", {"nights": 1}),
    ("could you send up a club sandwich", "order_room_service", {"item": "sandwich"}),
    ("i'm hungry can i get a pizza brought to my room", "order_room_service", {"item": "pizza"}),
    ("um a bottle of red wine to room 212 please", "order_room_service", {"item": "wine"}),
    ("can i have breakfast in bed tomorrow", "order_room_service", {"item": "breakfast"}),
    ("two coffees up to my room please", "order_room_service", {"item": "coffee"}),
    ("is it possible to leave the room a bit later like at one", "late_checkout", {"hour": 13}),
    ("can we keep the room until noon", "late_checkout", {"hour": 12}),
    ("um my flight is late could i stay in the room till three", "late_checkout", {"hour": 15}),
    ("i'd like to vacate at two instead of eleven", "late_checkout", {"hour": 14}),
    ("please wake me at six thirty", "wake_up_call", {"hour": 6}),
    ("can someone ring my room at seven tomorrow morning", "wake_up_call", {"hour": 7}),
    ("i need an alarm call at five", "wake_up_call", {"hour": 5}),
    ("so um make sure i'm up by eight", "wake_up_call", {"hour": 8}),
    ("i need a cab to the airport", "call_taxi", {"destination": "airport"}),
    (
        "can you get me a ride to the central station",
        "call_taxi",
        {"destination": "central station"},
    ),
    (
        "um so like i have to be at the convention center in twenty minutes",
        "call_taxi",
        {"destination": "convention center"},
    ),
    ("order me a car to take me downtown", "call_taxi", {"destination": "downtown"}),
    ("the shower in my room has no hot water", "report_problem", {"issue": "water"}),
    ("the tv doesn't turn on", "report_problem", {"issue": "tv"}),
    ("um the air conditioning is making a weird noise", "report_problem", {"issue": "air"}),
    ("my toilet is clogged", "report_problem", {"issue": "toilet"}),
    ("the light in the bathroom is busted", "report_problem", {"issue": "light"}),
    ("hello", None, {}),
    ("thank you very much have a nice day", None, {}),
    ("what's the wifi password", None, {}),
    ("is there a gym in the hotel", None, {}),
    ("do you allow pets", None, {}),
    ("how are you doing today", None, {}),
    ("where can i get a good dinner around here", None, {}),
    ("alright see you later", None, {}),
    ("what's your name", None, {}),
]


# A second dev domain, a bank's phone line, so that thresholds are not fitted to one domain.


@tool
def check_balance(account: Literal["checking", "savings"]) -> str:
    """How much money is in one of the caller's accounts."""
    return "1200 dollars"


@tool
def transfer_money(amount: int, to_account: str) -> str:
    """Send an amount of money to another account."""
    return "sent"


@tool
def block_card(reason: str) -> str:
    """Block the caller's bank card, for instance when it is lost or stolen."""
    return "blocked"


@tool
def find_atm(near: str) -> str:
    """Find the nearest cash machine to a place."""
    return "on Main Street"


@tool
def open_account(kind: Literal["checking", "savings"]) -> str:
    """Open a new bank account for the caller."""
    return "opened"


BANK_TOOLS = [check_balance, transfer_money, block_card, find_atm, open_account]

BANK_CASES: list[tuple[str, str | None, dict[str, Any]]] = [
    ("how much do i have in savings", "check_balance", {"account": "savings"}),
    ("um what's left on my checking", "check_balance", {"account": "checking"}),
    ("am i overdrawn on my checking account", "check_balance", {"account": "checking"}),
    ("can you tell me my savings total", "check_balance", {"account": "savings"}),
    (
        "i want to pay my landlord 500 dollars account 7781",
        "transfer_money",
        {"amount": 500, "to_account": "7781"},
    ),
    (
        "send 40 bucks to my sister's account 2203",
        "transfer_money",
        {"amount": 40, "to_account": "2203"},
    ),
    (
        "so like move 300 over to account 5512",
        "transfer_money",
        {"amount": 300, "to_account": "5512"},
    ),
    ("wire a hundred to account 9090", "transfer_money", {"amount": 100, "to_account": "9090"}),
    ("my wallet got stolen", "block_card", {"reason": "stolen"}),
    ("um i think i lost my debit card", "block_card", {"reason": "lost"}),
    ("freeze my card right now someone used it", "block_card", {}),
    ("i can't find my credit card anywhere", "block_card", {}),
    ("where can i withdraw cash near the mall", "find_atm", {"near": "mall"}),
    ("is there a cashpoint close to the train station", "find_atm", {"near": "train station"}),
    ("i need to get some money out around city hall", "find_atm", {"near": "city hall"}),
    ("i'd like to start a savings account", "open_account", {"kind": "savings"}),
    ("um can i become a customer and get a checking account", "open_account", {"kind": "checking"}),
    ("how do i sign up for a new savings account", "open_account", {"kind": "savings"}),
    ("hey good afternoon", None, {}),
    ("what's your mortgage rate", None, {}),
    ("cheers thanks for your help", None, {}),
    ("are you a robot", None, {}),
    ("what time is it", None, {}),
    ("do you have a mobile app", None, {}),
    ("bye now", None, {}),
    ("can you explain what an index fund is", None, {}),
]
