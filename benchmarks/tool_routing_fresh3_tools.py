"""Third fresh set for offline tool routing: a parcel courier and a gym.

Tool definitions written on 2026-12-02 (session 9) by the engineer; the requests were
written afterwards by a helper that saw only these definitions, and the tools' example
phrases by another helper that saw only the definitions and never the requests. Kept
outside the repository until run once; not edited after that (SHA-256 in the results).
"""

from __future__ import annotations

from typing import Literal

from voicebot import tool

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@tool
def track_parcel(tracking_number: str) -> str:
    """Tell the caller where a parcel is and when it should arrive."""
    return "out for delivery, arriving today before six"


@tool
def reschedule_delivery(tracking_number: str, day: Weekday) -> str:
    """Move a parcel's delivery to another day."""
    return "moved"


@tool
def redirect_parcel(tracking_number: str, address: str) -> str:
    """Deliver a parcel to a different address, a neighbour or a pickup point."""
    return "redirected"


@tool
def arrange_collection(postcode: str, day: Weekday) -> str:
    """Send a driver to collect a parcel the caller wants to send."""
    return "driver booked"


@tool
def report_damaged_parcel(tracking_number: str) -> str:
    """Open a claim for a parcel that arrived damaged or with items missing."""
    return "claim opened"


@tool
def shipping_quote(weight_kg: float, destination_country: str) -> str:
    """Give the price of sending a parcel of a given weight to a country."""
    return "twelve pounds fifty"


COURIER_TOOLS = [
    track_parcel,
    reschedule_delivery,
    redirect_parcel,
    arrange_collection,
    report_damaged_parcel,
    shipping_quote,
]


@tool
def book_class(class_name: str, day: Weekday) -> str:
    """Reserve a place in a group exercise class such as yoga, spin or pilates."""
    return "booked"


@tool
def cancel_class_booking(class_name: str, day: Weekday) -> str:
    """Give up a place the member booked in a group class."""
    return "cancelled"


@tool
def freeze_membership(weeks: int) -> str:
    """Pause the member's membership and payments for a number of weeks."""
    return "frozen"


@tool
def cancel_membership(member_id: str) -> str:
    """End the member's gym membership for good."""
    return "cancellation requested"


@tool
def book_personal_trainer(day: Weekday) -> str:
    """Book a one-to-one session with a personal trainer."""
    return "booked"


@tool
def report_broken_equipment(machine: str) -> str:
    """Tell the staff that a machine or piece of gym equipment is broken."""
    return "reported"


GYM_TOOLS = [
    book_class,
    cancel_class_booking,
    freeze_membership,
    cancel_membership,
    book_personal_trainer,
    report_broken_equipment,
]
