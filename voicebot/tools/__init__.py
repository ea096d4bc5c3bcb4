"""Tools the LLM can call: ``@tool`` to define one, ``ToolCaller`` to run them and speak for
them (``register_tools`` builds one for an LLM service).

``tool``/``Tool`` are imported at once (a bot file defines its tools without Pipecat); the
caller, which runs inside a pipeline, is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from voicebot.tools.tool import Tool, ToolArgumentsError, as_tool, tool

if TYPE_CHECKING:
    from voicebot.tools.caller import ToolCaller, Utterance, register_tools
    from voicebot.tools.calls import run_tool

_LAZY = {
    "ToolCaller": "voicebot.tools.caller",
    "Utterance": "voicebot.tools.caller",
    "register_tools": "voicebot.tools.caller",
    "run_tool": "voicebot.tools.calls",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'voicebot.tools' has no attribute {name!r}")


__all__ = [
    "Tool",
    "ToolArgumentsError",
    "ToolCaller",
    "Utterance",
    "as_tool",
    "register_tools",
    "run_tool",
    "tool",
]
