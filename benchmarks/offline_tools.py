"""Offline tool calling: does the local model call the right tool with valid arguments?

24 varied spoken requests (18 for one of 4 tools, 6 small talk that must call none) go
through the offline stack's tool path: ``ToolRouter`` picks the tool (by embeddings since
``offline_tool_routing.py``, which also measures routing on requests worded unlike the
tools), the local model fills in
its arguments under a grammar built from the tool's JSON schema. Baseline, in the same run:
the same model asked to answer with ``{"tool": ..., "arguments": ...}`` JSON by prompt
alone, as a small model is usually driven without grammar support.

Expectation before measuring: the grammar makes 100 % of calls parse and validate (by
construction); routing by word overlap gets ≥ 90 % of tools right on these distinct tools;
arguments are right for most simple slots (city, minutes), worse for free text; the
prompt-only baseline produces valid JSON for well under half.

    python benchmarks/offline_tools.py   # prints a table, writes results/offline_tools.json
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voicebot import tool  # noqa: E402
from voicebot.providers.local import LlamaLLM  # noqa: E402
from voicebot.providers.local.tool_router import (  # noqa: E402
    ToolRouter,
    ToolSpec,
    extract_arguments,
)

RESULTS = Path(__file__).resolve().parent / "results"


@tool
def get_weather(city: str) -> str:
    """Current weather forecast for a city."""
    return "sunny"


@tool
def book_appointment(
    day: Literal["monday", "tuesday", "wednesday", "thursday", "friday"], hour: int
) -> str:
    """Book an appointment on a weekday at an hour (24 h clock)."""
    return "booked"


@tool
def order_status(order_number: str) -> str:
    """Look up the delivery status of an order by its order number."""
    return "shipped"


@tool
def set_timer(minutes: int) -> str:
    """Start a countdown timer for a number of minutes."""
    return "started"


TOOLS = [get_weather, book_appointment, order_status, set_timer]

# (request, expected tool or None, expected arguments (checked loosely))
CASES: list[tuple[str, str | None, dict[str, Any]]] = [
    ("What's the weather like in Paris today?", "get_weather", {"city": "paris"}),
    ("Will it rain in London tomorrow?", "get_weather", {"city": "london"}),
    ("Tell me the forecast for Berlin.", "get_weather", {"city": "berlin"}),
    ("How hot is it in Madrid right now?", "get_weather", {"city": "madrid"}),
    ("Is it cold in Oslo?", "get_weather", {"city": "oslo"}),
    ("Book me an appointment on Monday at 10.", "book_appointment", {"day": "monday", "hour": 10}),
    ("Can I get an appointment Friday at 3 pm?", "book_appointment", {"day": "friday"}),
    ("I'd like to book Tuesday at 9 in the morning.", "book_appointment", {"day": "tuesday"}),
    (
        "Schedule an appointment for Thursday at 14.",
        "book_appointment",
        {"day": "thursday", "hour": 14},
    ),
    ("Please book Wednesday, 11 o'clock.", "book_appointment", {"day": "wednesday", "hour": 11}),
    ("Where is my order 4521?", "order_status", {"order_number": "4521"}),
    ("What's the status of order number 88310?", "order_status", {"order_number": "88310"}),
    ("Has order 1207 shipped yet?", "order_status", {"order_number": "1207"}),
    ("Check my delivery for order 5050.", "order_status", {"order_number": "5050"}),
    ("Set a timer for 10 minutes.", "set_timer", {"minutes": 10}),
    ("Start a 5 minute timer please.", "set_timer", {"minutes": 5}),
    ("Remind me in 20 minutes with a timer.", "set_timer", {"minutes": 20}),
    ("Countdown 3 minutes.", "set_timer", {"minutes": 3}),
    ("Hello, how are you?", None, {}),
    ("Thanks a lot, that's all.", None, {}),
    ("Who are you?", None, {}),
    ("Tell me a joke.", None, {}),
    ("Good morning!", None, {}),
    ("Goodbye.", None, {}),
]


def args_right(expected: dict[str, Any], got: dict[str, Any]) -> bool:
    for key, want in expected.items():
        have = got.get(key)
        if isinstance(want, str):
            if not isinstance(have, str) or want.lower() not in have.lower():
                return False
        elif have != want:
            return False
    return True


def valid(name: str, arguments: Any) -> bool:
    t = next((t for t in TOOLS if t.name == name), None)
    if t is None:
        return False
    try:
        t.validate_arguments(arguments)
        return True
    except Exception:
        return False


def prompt_only(llama: Any, request: str) -> tuple[str | None, Any]:
    """Baseline: tools described in the prompt, JSON asked for, no grammar."""
    listing = "\n".join(
        f"- {t.name}({', '.join(t.parameters_schema['properties'])}): {t.description}"
        for t in TOOLS
    )
    out = llama.create_chat_completion(
        [
            {
                "role": "system",
                "content": "You can call these tools:\n" + listing + "\nReply only with JSON "
                '{"tool": name or null, "arguments": {...}}.',
            },
            {"role": "user", "content": request},
        ],
        temperature=0.0,
        max_tokens=96,
    )["choices"][0]["message"]["content"]
    try:
        data = json.loads(out)
        return data.get("tool"), data.get("arguments", {})
    except Exception:
        return "<invalid JSON>", out


def main() -> None:
    llama = LlamaLLM().loaded().llama
    specs = [ToolSpec.from_function_schema(t.to_function_schema()) for t in TOOLS]
    router = ToolRouter(specs)
    rows: dict[str, dict[str, Any]] = {}
    for name, run in (("ours", "router+grammar"), ("baseline", "prompt only")):
        right_tool = valid_calls = calls = right_args = 0
        times = []
        detail = []
        for request, want_tool, want_args in CASES:
            start = time.perf_counter()
            if name == "ours":
                spec = router.route(request)
                got_tool = spec.name if spec else None
                args = extract_arguments(llama, spec, request) if spec else {}
                if args is None:  # unusable arguments: the pipeline calls no tool either
                    got_tool, args = None, {}
                got_args = args
            else:
                got_tool, got_args = prompt_only(llama, request)
            times.append(time.perf_counter() - start)
            right_tool += got_tool == want_tool
            if got_tool is not None:
                calls += 1
                valid_calls += valid(str(got_tool), got_args)
            right_args += got_tool == want_tool and (
                want_tool is None or args_right(want_args, got_args)
            )
            detail.append({"request": request, "tool": got_tool, "arguments": got_args})
        times.sort()
        rows[name] = {
            "method": run,
            "requests": len(CASES),
            "right_tool": right_tool,
            "tool_calls": calls,
            "valid_calls": valid_calls,
            "right_tool_and_arguments": right_args,
            "median_ms": 1000 * times[len(times) // 2],
            "max_ms": 1000 * times[-1],
            "detail": detail,
        }
    print(
        f"{'method':<16} {'right tool':>10} {'valid JSON':>11} {'all right':>10}"
        f" {'median':>8} {'max':>8}"
    )
    for r in rows.values():
        print(
            f"{r['method']:<16} {r['right_tool']:>6}/{r['requests']:<3} "
            f"{r['valid_calls']:>6}/{r['tool_calls']:<4} "
            f"{r['right_tool_and_arguments']:>6}/{r['requests']:<3} "
            f"{r['median_ms']:>6.0f}ms {r['max_ms']:>6.0f}ms"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "offline_tools.json").write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    from loguru import logger

    logger.remove()
    main()
