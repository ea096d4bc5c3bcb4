"""The cascade benchmark's requests and their rubrics (``benchmarks/bench_cascade.py``).

Written before any run of the cascade and before any routing policy was tuned; not to be
edited after (its sha256 goes into the results, so a later edit shows). Each request is one
caller turn to the phone assistant of a made-up dental clinic whose facts are in
``SYSTEM_PROMPT``; ``kind`` is the author's own label ("routine": small talk and questions
the prompt answers outright; "hard": arithmetic, reasoning, several steps, or a tool) and is
never shown to the router.

A reply passes its rubric when it mentions one term of every group in ``required`` (a term
matches as a whole word, case-insensitive; a trailing ``*`` matches a word's start), or, for
a tool request, when the turn calls ``tool`` with arguments containing ``tool_args`` (each
value a case-insensitive substring). ``or_tool`` names a tool whose call also passes a
question (asking the insurance tool about insurance is a fair answer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

SYSTEM_PROMPT = (
    "You are the phone assistant of Riverside Dental. Answer in one or two short spoken "
    "sentences. Facts: we are open Monday to Friday 8 am to 6 pm and Saturday 9 am to 1 pm; "
    "closed on Sunday. Address: 42 Mill Street, next to the library. Free parking behind the "
    "building. A check-up with cleaning costs 90 dollars, an X-ray 40 dollars, teeth "
    "whitening 250 dollars. Phone number 555-0142. Our dentists are Dr. Patel and Dr. Kim. We "
    "accept Delta, Aetna and Cigna insurance. Cancel at least 24 hours ahead, otherwise the "
    "fee is 25 dollars."
)

#: The clinic's tools, as ``voicebot.tool`` functions would declare them (name, description,
#: JSON-schema properties, required).
TOOLS: tuple[dict[str, Any], ...] = (
    {
        "name": "book_appointment",
        "description": "Book an appointment for the caller on a weekday at a time.",
        "properties": {
            "day": {
                "type": "string",
                "enum": ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday"],
                "description": "The day of the week",
            },
            "time": {"type": "string", "description": "The time, such as 3 pm"},
        },
        "required": ["day", "time"],
    },
    {
        "name": "cancel_appointment",
        "description": "Cancel the appointment booked under a caller's name.",
        "properties": {"name": {"type": "string", "description": "The caller's full name"}},
        "required": ["name"],
    },
    {
        "name": "check_insurance",
        "description": "Check whether an insurance provider's plan covers a treatment.",
        "properties": {
            "provider": {"type": "string", "description": "The insurance company"},
            "treatment": {"type": "string", "description": "The treatment to check"},
        },
        "required": ["provider"],
    },
)


@dataclass(frozen=True)
class Request:
    """One caller turn and what a good answer to it must contain."""

    text: str
    kind: Literal["routine", "hard"]
    required: tuple[tuple[str, ...], ...] = ()
    tool: str | None = None
    tool_args: dict[str, str] = field(default_factory=dict)
    or_tool: str | None = None


def _said(reply: str, term: str) -> bool:
    if term.endswith("*"):
        return re.search(rf"\b{re.escape(term[:-1])}", reply, re.IGNORECASE) is not None
    return re.search(rf"\b{re.escape(term)}\b", reply, re.IGNORECASE) is not None


def passes(request: Request, reply: str, calls: list[tuple[str, dict[str, Any]]]) -> bool:
    """Whether a turn's reply (its text) and tool calls (name, arguments) meet the rubric."""
    if request.tool is not None:
        return any(
            name == request.tool
            and all(
                want.lower() in str(args.get(key, "")).lower()
                for key, want in request.tool_args.items()
            )
            for name, args in calls
        )
    if request.or_tool is not None and any(name == request.or_tool for name, _ in calls):
        return True
    return bool(reply.strip()) and all(
        any(_said(reply, term) for term in group) for group in request.required
    )


_THANKS = ("welcome", "glad", "pleasure", "anytime", "happy", "bye", "take care", "great day")

REQUESTS: tuple[Request, ...] = (
    # ---- routine: small talk and facts stated in the prompt ------------------------------
    Request("Hi there!", "routine", (("hello", "hi", "welcome", "help", "good"),)),
    Request("Thanks, that's all I needed.", "routine", (_THANKS,)),
    Request("What time do you open on Monday?", "routine", (("8", "eight"),)),
    Request("Are you open on Sunday?", "routine", (("closed", "not open", "no"),)),
    Request("Where are you located?", "routine", (("mill street", "mill st"),)),
    Request("Is there parking?", "routine", (("park*",), ("free", "behind"))),
    Request("How much is a cleaning?", "routine", (("90", "ninety"),)),
    Request("What's your phone number?", "routine", (("555-0142", "555 0142", "5550142"),)),
    Request("Who are the dentists there?", "routine", (("patel",), ("kim",))),
    Request(
        "Do you take Aetna insurance?",
        "routine",
        (("yes", "we accept", "we do", "we take", "accept*"),),
        or_tool="check_insurance",
    ),
    Request("Goodbye!", "routine", (("bye", "goodbye", "take care", "great day"),)),
    Request("How are you today?", "routine", (("good", "well", "great", "fine", "doing"),)),
    Request("When do you close on Saturday?", "routine", (("1", "one", "13"),)),
    Request("How much does an X-ray cost?", "routine", (("40", "forty"),)),
    Request("What's the cancellation policy?", "routine", (("24", "twenty-four", "twenty four"),)),
    Request(
        "Do you do teeth whitening and how much is it?",
        "routine",
        (("250", "two hundred fifty", "two hundred and fifty"),),
    ),
    Request("Good morning, is this Riverside Dental?", "routine", (("riverside", "yes"),)),
    Request("Okay, thank you so much.", "routine", (_THANKS,)),
    Request("What's the address again?", "routine", (("42", "forty-two", "forty two"), ("mill",))),
    Request(
        "Are you open on Friday afternoons?",
        "routine",
        (("yes", "we are open", "we're open", "open until", "6", "six"),),
    ),
    Request("Can you hear me okay?", "routine", (("yes", "hear you", "i can"),)),
    Request("Is Dr. Kim a dentist there?", "routine", (("yes", "kim is"),)),
    # ---- hard: arithmetic, reasoning, several steps ----------------------------------------
    Request(
        "If I get a cleaning and an X-ray, how much is that in total?",
        "hard",
        (("130", "one hundred thirty", "one hundred and thirty"),),
    ),
    Request(
        "My two kids and I all need cleanings. What will the three cleanings cost together?",
        "hard",
        (("270", "two hundred seventy", "two hundred and seventy"),),
    ),
    Request(
        "If I cancel 10 hours before my appointment, do I pay anything? How much?",
        "hard",
        (("25", "twenty-five", "twenty five"),),
    ),
    Request(
        "If I arrive at 5:30 in the afternoon on a Saturday, will you still be open?",
        "hard",
        (("no", "closed", "not open", "won't be open"),),
    ),
    Request(
        "I can only come on weekends, after 11 in the morning. Which day and hours work?",
        "hard",
        (("saturday",), ("1", "one", "13")),
    ),
    Request(
        "Whitening is 250 dollars. If my insurance covers 40 percent, what do I pay?",
        "hard",
        (("150", "one hundred fifty", "one hundred and fifty"),),
    ),
    Request("What is 17 times 23?", "hard", (("391",),)),
    Request(
        "I have a budget of 200 dollars. Can I afford a cleaning, an X-ray and whitening?",
        "hard",
        (("no", "not enough", "can't", "cannot", "over", "exceed*", "380"),),
    ),
    Request(
        "Explain the difference between a cavity and gum disease in two sentences.",
        "hard",
        (("decay*", "hole", "enamel"), ("gum", "gums", "gingiv*")),
    ),
    Request(
        "My tooth hurts when I drink cold water but not hot. What could cause that, and should "
        "I come in?",
        "hard",
        (
            ("sensitiv*", "enamel", "cavit*", "gum*", "nerve", "dentin*"),
            ("appointment", "come in", "see", "visit", "check*", "book"),
        ),
    ),
    Request(
        "If I see Dr. Patel every six months, how many check-ups is that over three years?",
        "hard",
        (("6", "six"),),
    ),
    Request(
        "A check-up is 90 dollars. With a 15 percent senior discount, how much is it?",
        "hard",
        (("76.5", "76.50", "seventy-six fifty", "seventy six fifty", "76 dollars and 50"),),
    ),
    Request(
        "A crown fell out and I'm traveling tomorrow morning. What should I do tonight, step by "
        "step?",
        "hard",
        (("keep", "save", "store", "clean*", "rinse"), ("dentist", "appointment", "call", "come")),
    ),
    Request(
        "Which costs more, two X-rays or one cleaning, and by how much?",
        "hard",
        (("cleaning",), ("10", "ten")),
    ),
    Request(
        "Today is Thursday. If I want an appointment exactly three days from now, will you be "
        "open?",
        "hard",
        (("closed", "not open", "sunday"),),
    ),
    # ---- hard: a tool must be called ---------------------------------------------------------
    Request(
        "Please book me an appointment on Friday at 3 pm.",
        "hard",
        tool="book_appointment",
        tool_args={"day": "friday"},
    ),
    Request(
        "I need to cancel my appointment, my name is Maria Lopez.",
        "hard",
        tool="cancel_appointment",
        tool_args={"name": "maria"},
    ),
    Request(
        "Can you check if my Cigna plan covers a cleaning?",
        "hard",
        tool="check_insurance",
        tool_args={"provider": "cigna"},
    ),
    Request(
        "Book a cleaning for Tuesday morning at 10 for me.",
        "hard",
        tool="book_appointment",
        tool_args={"day": "tuesday"},
    ),
    Request(
        "Is my insurance from Delta accepted for whitening? Please check it for me.",
        "hard",
        tool="check_insurance",
        tool_args={"provider": "delta"},
    ),
    Request(
        "Cancel the booking under the name John Smith, please.",
        "hard",
        tool="cancel_appointment",
        tool_args={"name": "john"},
    ),
    Request(
        "Schedule me for Wednesday at 4:30 in the afternoon.",
        "hard",
        tool="book_appointment",
        tool_args={"day": "wednesday"},
    ),
)
