"""Runs ``Tool``s through Pipecat's function-calling machinery (``register_function``).

Bad model output never takes the session down: arguments that do not fit the schema and
tools that raise both become an error result the model reads and can recover from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loguru import logger

from voicebot.tools.tool import Tool, ToolArgumentsError


def _handler(tool: Tool) -> Any:
    async def handle(params: Any) -> None:
        try:
            result = await tool.invoke(params.arguments)
        except ToolArgumentsError as e:
            logger.warning(f"tool {tool.name}: model sent invalid arguments: {e}")
            await params.result_callback(
                {
                    "error": f"invalid arguments for {tool.name}: {e}; call it again with "
                    "arguments that match its schema"
                }
            )
            return
        except Exception as e:
            logger.opt(exception=e).error(f"tool {tool.name} raised {type(e).__name__}: {e}")
            await params.result_callback({"error": f"{tool.name} failed: {e}"})
            return
        await params.result_callback(result)

    return handle


def register_tools(llm: Any, tools: Sequence[Tool]) -> None:
    """Register each tool's handler on a Pipecat ``LLMService``."""
    for tool in tools:
        llm.register_function(tool.name, _handler(tool), timeout_secs=tool.timeout_secs)
