# ruff: noqa: E501  (definitions kept as written)
"""Seventh fresh set for offline tool routing: dry cleaner and plumbing service.

Tool definitions written 2026-12-04 (session 21) by a helper that saw no other set; the
requests (``tool_routing_fresh7_requests.py``) by another that saw only these definitions,
the examples (``tool_examples.json``, ``fresh7-*``) by a third that saw only these. Kept
outside the repository until run once (router unchanged); not edited after that, except
this docstring and the first line (the run's file is the two joined, SHA-256 in its results).
"""

from __future__ import annotations

from typing import Literal

from voicebot import tool

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

# --- Dry cleaner ---


@tool
def check_order_status(ticket_number: str) -> str:
    """Tells you whether the garments on your ticket are cleaned and ready to pick up."""
    return f"Ticket {ticket_number} is cleaned, pressed and ready for collection at the counter."


@tool
def get_cleaning_price(item_type: Literal["shirt", "suit", "dress", "coat", "duvet", "curtains"]) -> str:
    """Gives our standard price and turnaround time for cleaning a type of item."""
    return f"Cleaning a {item_type} costs from 12 pounds with a three-day turnaround."


@tool
def book_home_collection(address: str, day: Weekday, time_slot: Literal["morning", "afternoon", "evening"]) -> str:
    """Books our van to collect your clothes for cleaning from your home or office."""
    return f"Collection booked at {address} on {day} {time_slot}, reference DC-5521."


@tool
def cancel_home_collection(booking_reference: str) -> str:
    """Cancels a home collection that you have already booked with us."""
    return f"Collection {booking_reference} has been cancelled; no charge applies."


@tool
def reschedule_home_collection(booking_reference: str, new_day: Weekday) -> str:
    """Moves an existing home collection to a different day."""
    return f"Collection {booking_reference} has been moved to {new_day}, same time slot."


@tool
def report_damaged_garment(ticket_number: str, description: str) -> str:
    """Logs a complaint about an item that came back damaged, stained or missing."""
    return f"Claim opened for ticket {ticket_number}; a manager will call you within two working days."


# --- Plumbing service ---


@tool
def book_plumber_visit(postcode: str, day: Weekday, job_type: Literal["boiler", "leak", "blocked_drain", "tap_or_toilet", "radiator"]) -> str:
    """Books a plumber to come to your property for a non-urgent job."""
    return f"Plumber booked for a {job_type} job at {postcode} on {day}, reference PL-3087."


@tool
def cancel_plumber_visit(job_reference: str) -> str:
    """Cancels a plumber visit that has already been booked."""
    return f"Visit {job_reference} has been cancelled and your deposit will be refunded."


@tool
def move_plumber_visit(job_reference: str, new_day: Weekday) -> str:
    """Changes the day of a plumber visit you already have booked."""
    return f"Visit {job_reference} is now on {new_day}, arrival window 8am to 12pm."


@tool
def report_emergency_leak(address: str, severity: Literal["dripping", "flowing", "flooding"]) -> str:
    """Sends an emergency plumber out straight away for a burst pipe or serious leak."""
    return f"Emergency plumber dispatched to {address} for {severity} water; turn off your stopcock if you can."


@tool
def get_job_quote(job_type: Literal["boiler", "leak", "blocked_drain", "tap_or_toilet", "radiator"]) -> str:
    """Gives a rough price estimate for a common plumbing job before you book."""
    return f"A typical {job_type} job costs between 80 and 180 pounds including the call-out fee."


@tool
def check_plumber_arrival(job_reference: str) -> str:
    """Tells you when the plumber is expected to arrive for your booked job today."""
    return f"The plumber for job {job_reference} is on the way and should arrive in about 25 minutes."


DRY_CLEANER_TOOLS = [
    check_order_status,
    get_cleaning_price,
    book_home_collection,
    cancel_home_collection,
    reschedule_home_collection,
    report_damaged_garment,
]

PLUMBER_TOOLS = [
    book_plumber_visit,
    cancel_plumber_visit,
    move_plumber_visit,
    report_emergency_leak,
    get_job_quote,
    check_plumber_arrival,
]
