"""Fourth fresh set for offline tool routing: a pharmacy and an energy supplier.

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
def order_repeat_prescription(medicine: str) -> str:
    """Order a refill of a medicine the caller takes regularly."""
    return "ordered, ready in two days"


@tool
def prescription_status(name: str) -> str:
    """Say whether a prescription the caller handed in or ordered is ready to collect."""
    return "ready to collect"


@tool
def book_vaccination(vaccine: str, day: Weekday) -> str:
    """Book a flu, covid or travel jab at the pharmacy."""
    return "booked"


@tool
def check_medicine_stock(medicine: str) -> str:
    """Say whether the pharmacy has a medicine or product in stock."""
    return "in stock"


@tool
def arrange_home_delivery(medicine: str, postcode: str) -> str:
    """Have medicines delivered to the caller's home instead of collected."""
    return "delivery arranged"


@tool
def ask_pharmacist(question: str) -> str:
    """Pass a question about side effects, doses or mixing medicines to the pharmacist."""
    return "the pharmacist will call back within the hour"


PHARMACY_TOOLS = [
    order_repeat_prescription,
    prescription_status,
    book_vaccination,
    check_medicine_stock,
    arrange_home_delivery,
    ask_pharmacist,
]


@tool
def submit_meter_reading(reading: int) -> str:
    """Record the number on the caller's electricity or gas meter."""
    return "reading saved"


@tool
def report_power_cut(postcode: str) -> str:
    """Report that the electricity has gone off at the caller's home, and say when it returns."""
    return "engineers are on it, power back by eight"


@tool
def explain_bill(account_number: str) -> str:
    """Go through the caller's latest bill: what they were charged for and why."""
    return "the bill covers 92 days at the standard rate"


@tool
def set_up_payment_plan(account_number: str, monthly_amount: float) -> str:
    """Spread money the caller owes over monthly payments they can afford."""
    return "plan set up"


@tool
def register_home_move(account_number: str, moving_day: Weekday) -> str:
    """Close the supply at the old address when the caller moves house."""
    return "move registered"


@tool
def book_smart_meter_install(postcode: str, day: Weekday) -> str:
    """Book an engineer to fit a smart meter."""
    return "installation booked"


ENERGY_TOOLS = [
    submit_meter_reading,
    report_power_cut,
    explain_bill,
    set_up_payment_plan,
    register_home_move,
    book_smart_meter_install,
]
