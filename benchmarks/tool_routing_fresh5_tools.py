"""Fifth fresh set for offline tool routing: a vet practice and a cinema.

Tool definitions written on 2026-12-03 (session 10) by the engineer; the requests were
written afterwards by a helper that saw only these definitions, and the tools' example
phrases by another helper that saw only the definitions and never the requests. Kept
outside the repository until run once; not edited after that (SHA-256 in the results).
"""

from __future__ import annotations

from typing import Literal

from voicebot import tool

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@tool
def book_vet_appointment(pet_name: str, day: Weekday) -> str:
    """Book a consultation with a vet for the caller's pet."""
    return "booked"


@tool
def emergency_triage(symptoms: str) -> str:
    """Decide how urgently a pet that is hurt or suddenly ill must be seen."""
    return "bring her in now"


@tool
def order_pet_medication(pet_name: str, medication: str) -> str:
    """Order more of a medicine or special food the vet has prescribed for a pet."""
    return "ready tomorrow"


@tool
def vaccination_due_date(pet_name: str) -> str:
    """Say when a pet's next vaccination or booster is due."""
    return "due in march"


@tool
def book_grooming(pet_name: str, day: Weekday) -> str:
    """Book a wash, trim or nail clipping for a pet."""
    return "booked"


@tool
def test_results(pet_name: str) -> str:
    """Give the results of a pet's blood test, scan or sample."""
    return "all normal"


VET_TOOLS = [
    book_vet_appointment,
    emergency_triage,
    order_pet_medication,
    vaccination_due_date,
    book_grooming,
    test_results,
]


@tool
def film_showtimes(film: str, day: Weekday) -> str:
    """Say when a film is showing."""
    return "at 17:30 and 20:15"


@tool
def book_tickets(film: str, day: Weekday, tickets: int) -> str:
    """Buy tickets for a showing of a film."""
    return "booked"


@tool
def refund_tickets(booking_reference: str) -> str:
    """Refund tickets the caller bought and can no longer use."""
    return "refunded"


@tool
def report_lost_item(description: str) -> str:
    """Log something the caller left behind in the cinema."""
    return "logged"


@tool
def check_accessibility(film: str) -> str:
    """Say whether a showing has subtitles, audio description or wheelchair spaces."""
    return "subtitled, two wheelchair spaces"


@tool
def membership_points(member_number: str) -> str:
    """Tell a member how many loyalty points they have."""
    return "1,240 points"


CINEMA_TOOLS = [
    film_showtimes,
    book_tickets,
    refund_tickets,
    report_lost_item,
    check_accessibility,
    membership_points,
]
