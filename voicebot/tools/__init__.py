"""Tools the LLM can call: ``@tool`` to define one, ``ToolCaller`` to run them and speak for
them (``register_tools`` builds one for an LLM service)."""

from voicebot.tools.caller import ToolCaller, Utterance, register_tools, run_tool
from voicebot.tools.tool import Tool, ToolArgumentsError, as_tool, tool

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
