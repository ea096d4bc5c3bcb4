"""A scripted LLM: streams the replies you wrote, including tool calls, at a set pace."""

from __future__ import annotations

import asyncio
import copy
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from loguru import logger
from pipecat.frames.frames import (
    Frame,
    FunctionCallFromLLM,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import LLMService
from pipecat.services.settings import LLMSettings
from pydantic import Field

from voicebot.pipecat_compat import push_llm_text
from voicebot.providers.base import BuildContext, LLMProvider, llm_settings
from voicebot.tools.tool import UNPARSED_ARGUMENTS, parse_arguments


@dataclass(frozen=True)
class ToolCall:
    """One call the fake model makes; ``arguments`` as a dict, or a raw string to send the
    model's exact (possibly malformed) JSON. Malformed JSON reaches the tool as voicebot's
    ``OpenAILLMService`` passes it on (see ``voicebot.tools.tool.parse_arguments``), and the
    model is answered with an error."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)


#: A reply is text to stream, or the tool calls of one model turn.
Reply = str | ToolCall | Sequence[ToolCall]

_TOKEN = re.compile(r"\S+\s*|\s+")
_ids = itertools.count(1)


def tokens(text: str) -> list[str]:
    """Word-sized tokens that concatenate back to ``text``."""
    return _TOKEN.findall(text)


class ScriptedLLMService(LLMService):
    """Pipecat LLM service answering each inference with the next scripted reply.

    After the script runs out it answers ``fallback``, where ``{user}`` is the last user
    message. Every context it was asked about is kept in ``requests`` for assertions, with
    the system instruction first, as a chat-completions server would receive it.
    """

    def __init__(
        self,
        replies: Sequence[Reply],
        *,
        ttft_secs: float = 0.2,
        tokens_per_sec: float = 50.0,
        fallback: str = "You said: {user}",
        system_instruction: str | None = None,
    ) -> None:
        super().__init__(
            settings=llm_settings(
                "scripted",
                system_instruction=system_instruction,
                temperature=None,
                max_tokens=None,
            )
        )
        self._replies = list(replies)
        self._ttft = ttft_secs
        self._token_gap = 1.0 / tokens_per_sec if tokens_per_sec > 0 else 0.0
        self._fallback = fallback
        self.requests: list[list[dict[str, Any]]] = []

    def can_generate_metrics(self) -> bool:
        return True

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            await self.push_frame(LLMFullResponseStartFrame())
            await self.start_processing_metrics()
            try:
                await self._respond(frame.context)
            finally:
                await self.stop_processing_metrics()
                await self.push_frame(LLMFullResponseEndFrame())
        else:
            await self.push_frame(frame, direction)

    def _next_reply(self, context: LLMContext) -> Reply:
        if self._replies:
            return self._replies.pop(0)
        user = next(
            (
                m.get("content")
                for m in reversed(context.get_messages())
                if isinstance(m, dict) and m.get("role") == "user"
            ),
            "",
        )
        return self._fallback.format(user=user if isinstance(user, str) else "")

    async def _respond(self, context: LLMContext) -> None:
        messages: list[dict[str, Any]] = [
            dict(m) for m in copy.deepcopy(list(context.get_messages())) if isinstance(m, dict)
        ]
        system = cast(LLMSettings, self.settings).system_instruction
        if isinstance(system, str) and system:
            messages.insert(0, {"role": "system", "content": system})
        self.requests.append(messages)
        reply = self._next_reply(context)
        await self.start_ttfb_metrics()
        await asyncio.sleep(self._ttft)
        await self.stop_ttfb_metrics()
        if isinstance(reply, str):
            for i, token in enumerate(tokens(reply)):
                if i and self._token_gap:
                    await asyncio.sleep(self._token_gap)
                await push_llm_text(self, token)
            return
        calls = [reply] if isinstance(reply, ToolCall) else list(reply)
        from_llm = []
        for call in calls:
            args: Any = call.arguments
            if isinstance(args, str):
                # As voicebot's OpenAILLMService reads them: text that is not JSON still
                # reaches the tool, which answers the model with an error it can read.
                args = parse_arguments(args)
                if isinstance(args, dict) and UNPARSED_ARGUMENTS in args:
                    logger.warning(f"{self}: {call.name} arguments are not JSON: {call.arguments}")
            from_llm.append(
                FunctionCallFromLLM(
                    context=context,
                    tool_call_id=f"call_{next(_ids)}",
                    function_name=call.name,
                    arguments=args,
                )
            )
        await self.run_function_calls(from_llm)


class FakeLLM(LLMProvider):
    """Streams ``replies`` in order (text or ``ToolCall``s), first token after ``ttft_secs``,
    then ``tokens_per_sec``; afterwards echoes the user with ``fallback``."""

    name: ClassVar[str] = "fake"

    replies: list[Any] = Field(default_factory=list)
    ttft_secs: float = Field(default=0.2, ge=0)
    tokens_per_sec: float = Field(default=50.0, ge=0)
    fallback: str = "You said: {user}"

    def build(self, ctx: BuildContext) -> ScriptedLLMService:
        return ScriptedLLMService(
            self.replies,
            ttft_secs=self.ttft_secs,
            tokens_per_sec=self.tokens_per_sec,
            fallback=self.fallback,
            system_instruction=ctx.system_prompt,
        )
