"""Frames an LLM service sends the tool caller (``ToolCaller``) about a call it is preparing.

A model that decides on a tool before it has the call's arguments can say so at once: the
offline ``LlamaLLM`` routes a request to a tool in ~60 ms and then writes its arguments,
~1 s on two cores, before Pipecat's function-call frames exist. The tool caller counts
the tool's ``filler_after_secs`` from that choice, and says the filler ("One moment.") at
once when the model expects to answer later than that, so a caller waiting on a tool turn
hears it instead of seconds of silence (docs/tools.md, "What the caller hears"). At once
matters: the call's frames reach the context behind the filler's audio, so a filler still
playing when the arguments are written holds the answer back.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipecat.frames.frames import ControlFrame


@dataclass
class ToolChosenFrame(ControlFrame):
    """The model chose ``function_name`` for the call ``tool_call_id`` (the id its function
    call will carry) and is writing the arguments. ``answer_in_secs``: how long from now the
    model expects to start answering the call's result (None: it cannot tell)."""

    tool_call_id: str
    function_name: str
    answer_in_secs: float | None = None


@dataclass
class ToolDroppedFrame(ControlFrame):
    """The chosen call will not be made (no usable arguments): the model answers instead."""

    tool_call_id: str
