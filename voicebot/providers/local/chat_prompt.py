"""What the small local model is shown: the call's context as plain chat messages.

Small models answer best from plain messages in a fixed order: a tool's result becomes a
system note in words, in front of the request it answers, and stays there on later turns
(so llama.cpp's cache of the conversation keeps matching; ``llama.py`` runs the model).
"""

from __future__ import annotations

import json
from typing import Any

from pipecat.processors.aggregators.llm_context import LLMContext

#: How a tool result's note begins (``tool_result_note``).
NOTE_START = "Fact for your answer:"


def chat_messages(context: LLMContext, system: str | None) -> list[dict[str, str]]:
    """The context as plain chat messages a small local model's template accepts.

    A tool's result becomes a system note that names the call and asks for an answer in
    words: shown a bare "Tool result: closed", small models say "The tool is closed"."""
    out: list[dict[str, str]] = []
    if system:
        out.append({"role": "system", "content": system})
    calls: dict[str, str] = {}  # tool_call_id -> "name(arguments)"
    for m in context.get_messages():
        if not isinstance(m, dict):
            continue
        role, content = m.get("role"), m.get("content")
        tool_calls: Any = m.get("tool_calls") or ()
        for call in tool_calls:
            if isinstance(call, dict):
                fn = call.get("function") or {}
                calls[str(call.get("id"))] = _describe_call(fn.get("name"), fn.get("arguments"))
        if isinstance(content, list):
            content = " ".join(
                p.get("text", "")
                for p in content
                if isinstance(p, dict) and p.get("type") == "text"
            )
        if role in ("developer",):
            role = "system"
        if role == "tool":
            call = calls.get(str(m.get("tool_call_id")), "the lookup")
            role, content = "system", tool_result_note(call, content)
        if role in ("system", "user", "assistant") and isinstance(content, str) and content:
            out.append({"role": role, "content": content})
    return notes_before_requests(without_words_while_tools_ran(out))


def conversation_start(system: str | None, greeting: str | None) -> list[dict[str, str]]:
    """The messages every call's prompt begins with, as ``chat_messages`` writes them (the
    system prompt, then the greeting the bot said), and a first request: evaluated before a
    call (``LlamaLLM.prepare_conversation``), llama.cpp keeps them cached up to the
    request's words."""
    out = [{"role": "system", "content": system}] if system else []
    if greeting:
        out.append({"role": "assistant", "content": greeting})
    return [*out, {"role": "user", "content": "Hi"}]


def without_words_while_tools_ran(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Without what the bot said between a request and its tool results (the tool caller's
    filler, "One moment."): shown it, the small model answered the note as if its reply
    were over ("We're sorry, but I can't assist with that."). The local model writes no
    words beside a tool call, so any there are the tool caller's; the context keeps them."""
    out: list[dict[str, str]] = []
    for i, m in enumerate(messages):
        if m["role"] == "assistant" and _before_a_note(messages, i):
            continue
        out.append(m)
    return out


def _before_a_note(messages: list[dict[str, str]], i: int) -> bool:
    """Whether a tool result's note follows message ``i`` before the next request."""
    for m in messages[i + 1 :]:
        if m["role"] == "user":
            return False
        if m["role"] == "system" and m["content"].startswith(NOTE_START):
            return True
    return False


def notes_before_requests(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Each request's notes (tool results: system messages right after it) in front of it:
    small models answer a fact best when it comes just before the question. Every request's,
    not only the last one's, so the prompt of a later turn begins with this turn's and the
    model's cache of it is reused (the note moving back after its request cost the next
    turn ~0.5 s of prompt evaluation)."""
    out = list(messages)
    i = 0
    while i < len(out):
        end = i + 1
        while out[i]["role"] == "user" and end < len(out) and out[end]["role"] == "system":
            end += 1
        if end > i + 1:
            out[i:end] = [*out[i + 1 : end], out[i]]
        i = end
    return out


def _describe_call(name: Any, arguments: Any) -> str:
    try:
        args = json.loads(arguments) if isinstance(arguments, str) else arguments
    except ValueError:
        args = None
    if isinstance(args, dict) and args:
        inner = ", ".join(f"{k}={v!r}" for k, v in args.items())
        return f"{name}({inner})"
    return f"{name}()"


def tool_result_note(call: str, result: Any) -> str:
    """The system note that carries a tool's result to a small model."""
    text = result if isinstance(result, str) else json.dumps(result)
    try:  # results are JSON in the context; plain words read better to a small model
        decoded = json.loads(text)
    except ValueError:
        decoded = None
    if isinstance(decoded, str):
        text = decoded
    elif isinstance(decoded, dict) and decoded:
        text = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in decoded.items())
    return (
        f"{NOTE_START} {call} is {text}. Answer the next question with this fact "
        "in one short spoken sentence, in your own words, as the business speaking "
        '("we"). Never mention tools, functions or lookups.'
    )
