"""Tools the LLM can call: ``@tool`` to define one, ``register_tools`` to run them."""

from voicebot.tools.caller import register_tools
from voicebot.tools.tool import Tool, ToolArgumentsError, as_tool, tool

__all__ = ["Tool", "ToolArgumentsError", "as_tool", "register_tools", "tool"]
