"""Sixth fresh set for offline tool routing: hair salon and council waste service.

Tool definitions written 2026-12-04 (session 19) by a helper that saw no other set; the
requests (``tool_routing_fresh6_requests.py``) by another that saw only these definitions,
the examples (``tool_examples.json``, ``fresh6-*``) by a third that saw only these. Kept
outside the repository until run once (router unchanged); not edited after that, except
this docstring (the run's file is the two joined, SHA-256 in its results).
"""

from __future__ import annotations

from typing import Literal

from voicebot import tool

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
BinType = Literal["general", "recycling", "garden", "food"]


# --- Hair salon ---


@tool
def book_hair_appointment(stylist_name: str, day: Weekday) -> str:
    """Book a hair appointment with a chosen stylist on a given day."""
    return "appointment booked"


@tool
def cancel_hair_appointment(booking_reference: str) -> str:
    """Cancel an existing hair appointment using its booking reference."""
    return "appointment cancelled"


@tool
def reschedule_hair_appointment(booking_reference: str, new_day: Weekday) -> str:
    """Move an existing hair appointment to a different day."""
    return "appointment moved"


@tool
def check_stylist_availability(stylist_name: str, day: Weekday) -> str:
    """Check whether a stylist has free slots on a given day."""
    return "two slots free in the afternoon"


@tool
def get_treatment_price(treatment: str) -> str:
    """Look up the price of a salon treatment such as a cut, colour or blow-dry."""
    return "45 pounds"


@tool
def buy_gift_voucher(amount: str, recipient_name: str) -> str:
    """Buy a salon gift voucher of a given value for someone."""
    return "voucher issued"


# --- Council waste service ---


@tool
def get_bin_collection_day(postcode: str, bin_type: BinType) -> str:
    """Tell the caller which day a given bin is collected at their address."""
    return "collected every tuesday"


@tool
def report_missed_bin_collection(postcode: str, bin_type: BinType) -> str:
    """Report that a bin was not emptied on its scheduled collection day."""
    return "missed collection logged"


@tool
def order_replacement_bin(postcode: str, bin_type: BinType) -> str:
    """Order a new bin to replace one that is lost, stolen or damaged."""
    return "replacement bin ordered"


@tool
def book_bulky_waste_collection(item_description: str, day: Weekday) -> str:
    """Book a paid collection of large household items like furniture or fridges."""
    return "bulky collection booked"


@tool
def cancel_bulky_waste_collection(booking_reference: str) -> str:
    """Cancel a previously booked bulky waste collection."""
    return "bulky collection cancelled"


@tool
def get_recycling_centre_hours(site_name: str, day: Weekday) -> str:
    """Give the opening hours of a household recycling centre on a given day."""
    return "open 8am to 6pm"


HAIR_SALON_TOOLS = [
    book_hair_appointment,
    cancel_hair_appointment,
    reschedule_hair_appointment,
    check_stylist_availability,
    get_treatment_price,
    buy_gift_voucher,
]

WASTE_SERVICE_TOOLS = [
    get_bin_collection_day,
    report_missed_bin_collection,
    order_replacement_bin,
    book_bulky_waste_collection,
    cancel_bulky_waste_collection,
    get_recycling_centre_hours,
]
