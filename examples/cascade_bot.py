r"""Cascading models: a fast local model answers routine turns, a capable one the hard ones.

    voicebot serve examples/cascade_bot.py     # talk to it from a browser
    voicebot run examples/cascade_bot.py --input examples/audio/two_turns.wav \
        --output out/cascade.wav

Offline, both models local: Qwen2.5-Coder-0.5B (``LlamaLLM()``) is fast, the 1.5B
``LlamaLLM(profile="quality")`` (``pip install "voicebot[local-quality]"``) is better at
arithmetic, reasoning and tools. A turn that asks for a tool, is long, says a reasoning word,
or that the fast model starts to decline goes to the capable model, which says "Let me check
that." first. The turn record says which model answered (``TurnRecord.llm_path``). Measured
in docs/cascade.md.

For the hybrid edge/cloud case, keep the fast model local and make the capable one a cloud
model (its key in ``OPENAI_API_KEY``); if the cloud fails before answering, the fast model
answers the turn instead::

    capable=OpenAILLM(model="gpt-4o-mini")
"""

from voicebot import (
    Bot,
    Cascade,
    LlamaLLM,
    any_of,
    fast_declines,
    keywords,
    longer_than,
    needs_tool,
)
from voicebot.tools import tool


@tool
def book_appointment(day: str, time: str) -> str:
    """Book an appointment for the caller on a weekday at a time."""
    return f"booked for {day} at {time}"


bot = Bot(
    greeting="Hello, Riverside Dental. How can I help?",
    system_prompt=(
        "You are the phone assistant of Riverside Dental. Answer in one or two short spoken "
        "sentences. We are open Monday to Friday 8 am to 6 pm. A cleaning costs 90 dollars."
    ),
    llm=Cascade(
        fast=LlamaLLM(),
        capable=LlamaLLM(profile="quality"),
        route=any_of(
            needs_tool,
            longer_than(14),
            keywords(["if", "total", "percent", "how many", "explain", "step by step"]),
            fast_declines,
        ),
        bridge="Let me check that.",
    ),
    tools=[book_appointment],
)
