"""Fresh set for offline tool routing: a restaurant's line and an internet provider's line.

Written on 2026-12-02 before any routing change of that session, by someone who had not seen
the tuning runs of that session; kept outside the repository while the router was tuned on
every earlier set (original, dev, clinic, airline), and run once at the end. Not edited after
it was first run (its SHA-256 goes into the results). ASR-like lower case, fillers, synonyms,
indirect wording; some requests need no tool.
"""

from __future__ import annotations

from typing import Any, Literal

from voicebot import tool

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@tool
def reserve_table(party_size: int, day: Weekday) -> str:
    """Reserve a table for a number of people on a day of the week."""
    return "reserved"


@tool
def cancel_reservation(name: str) -> str:
    """Cancel a table reservation made under a name."""
    return "cancelled"


@tool
def opening_hours(day: Weekday) -> str:
    """The restaurant's opening hours on a day of the week."""
    return "noon to ten"


@tool
def check_allergens(dish: str) -> str:
    """Which allergens a dish on the menu contains."""
    return "nuts"


@tool
def order_status(order_number: str) -> str:
    """Where a delivery order is and when it will arrive, by order number."""
    return "on its way"


@tool
def leave_feedback(comment: str) -> str:
    """Pass a compliment or a complaint about a visit on to the manager."""
    return "passed on"


TOOLS = [reserve_table, cancel_reservation, opening_hours, check_allergens, order_status,
         leave_feedback]

CASES: list[tuple[str, str | None, dict[str, Any]]] = [
    ("hi could i get a table for four on friday", "reserve_table",
     {"party_size": 4, "day": "friday"}),
    ("um we're a group of six and want to come in saturday", "reserve_table",
     {"party_size": 6, "day": "saturday"}),
    ("is there room for two of us thursday night", "reserve_table",
     {"party_size": 2, "day": "thursday"}),
    ("i'd like to book dinner for three people on sunday", "reserve_table",
     {"party_size": 3, "day": "sunday"}),
    ("save us a spot tuesday there'll be five of us", "reserve_table",
     {"party_size": 5, "day": "tuesday"}),
    ("we can't make it tonight the booking's under patel", "cancel_reservation",
     {"name": "patel"}),
    ("please scrap the reservation for garcia", "cancel_reservation", {"name": "garcia"}),
    ("uh i need to call off our table it's in the name of o'brien", "cancel_reservation",
     {"name": "o'brien"}),
    ("take my booking off the list name's nguyen", "cancel_reservation", {"name": "nguyen"}),
    ("are you guys open on monday", "opening_hours", {"day": "monday"}),
    ("what time do you close wednesday", "opening_hours", {"day": "wednesday"}),
    ("until when can i come in on saturday", "opening_hours", {"day": "saturday"}),
    ("when does the kitchen start serving sunday", "opening_hours", {"day": "sunday"}),
    ("does the pad thai have peanuts in it", "check_allergens", {"dish": "pad thai"}),
    ("my son can't have gluten is the lasagna okay", "check_allergens", {"dish": "lasagna"}),
    ("is there any dairy in the tiramisu", "check_allergens", {"dish": "tiramisu"}),
    ("what's in the curry i'm allergic to shellfish", "check_allergens", {"dish": "curry"}),
    ("where's my food order 4471 it's been an hour", "order_status",
     {"order_number": "4471"}),
    ("um has delivery 902 left the restaurant yet", "order_status", {"order_number": "902"}),
    ("i'm still waiting on order 3318 how long", "order_status", {"order_number": "3318"}),
    ("the waiter last night was amazing please tell the boss", "leave_feedback",
     {"comment": "waiter"}),
    ("i want to complain the soup was cold yesterday", "leave_feedback", {"comment": "soup"}),
    ("could you let the manager know the music was way too loud", "leave_feedback",
     {"comment": "music"}),
    ("hello", None, {}),
    ("do you have parking nearby", None, {}),
    ("can i bring my own wine", None, {}),
    ("do you do gift cards", None, {}),
    ("thanks bye", None, {}),
    ("are you hiring at the moment", None, {}),
]


@tool
def report_outage(postcode: str) -> str:
    """Report that internet service is down at an address, by its postcode."""
    return "reported"


@tool
def pay_bill(amount: float) -> str:
    """Pay an amount towards the caller's bill."""
    return "paid"


@tool
def account_balance() -> str:
    """How much the caller currently owes on their account."""
    return "forty dollars"


@tool
def book_technician(day: Weekday) -> str:
    """Book an engineer to visit the caller's home on a day of the week."""
    return "booked"


@tool
def change_plan(speed: Literal["basic", "fast", "ultra"]) -> str:
    """Move the caller to a different broadband plan: basic, fast or ultra."""
    return "changed"


@tool
def restart_router() -> str:
    """Restart the caller's router remotely."""
    return "restarted"


ISP_TOOLS = [report_outage, pay_bill, account_balance, book_technician, change_plan,
             restart_router]

ISP_CASES: list[tuple[str, str | None, dict[str, Any]]] = [
    ("my wifi's been dead all morning i'm at sw1a 2aa", "report_outage",
     {"postcode": "sw1a 2aa"}),
    ("nothing's loading at all here postcode is m1 4bt", "report_outage",
     {"postcode": "m1 4bt"}),
    ("um the whole street lost connection zip 90210", "report_outage", {"postcode": "90210"}),
    ("i'd like to put fifty dollars on my account", "pay_bill", {"amount": 50}),
    ("can i settle twenty five now", "pay_bill", {"amount": 25}),
    ("i want to clear what i owe it's a hundred", "pay_bill", {"amount": 100}),
    ("how much do i owe you guys", "account_balance", {}),
    ("what's outstanding on my account right now", "account_balance", {}),
    ("am i behind on payments", "account_balance", {}),
    ("can someone come out and look at the line thursday", "book_technician",
     {"day": "thursday"}),
    ("i need a repair guy at my house on monday", "book_technician", {"day": "monday"}),
    ("send an engineer round friday please", "book_technician", {"day": "friday"}),
    ("is anyone free to fix the cable tuesday", "book_technician", {"day": "tuesday"}),
    ("i want the quickest package you have the ultra one", "change_plan", {"speed": "ultra"}),
    ("can you drop me down to basic it's too pricey", "change_plan", {"speed": "basic"}),
    ("upgrade me to fast please", "change_plan", {"speed": "fast"}),
    ("could you reboot my box from your end", "restart_router", {}),
    ("turn the modem off and on again for me", "restart_router", {}),
    ("my router's frozen can you give it a kick remotely", "restart_router", {}),
    ("hi there", None, {}),
    ("do you sell phones too", None, {}),
    ("what's your address", None, {}),
    ("can i speak to a human", None, {}),
    ("no that's everything thank you", None, {}),
    ("is there a contract if i sign up", None, {}),
]
