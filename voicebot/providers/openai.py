"""OpenAI chat completions, or any OpenAI-compatible server, through ``OpenAILLMService``.

The service built is Pipecat's ``OpenAILLMService`` with one fix (see
``voicebot_openai_service``): a tool call whose arguments are not valid JSON is answered
with an error the model reads, where Pipecat drops the call without a word.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, ClassVar

from loguru import logger
from pydantic import Field, SecretStr, field_validator

from voicebot.pipecat_compat import StreamedToolCall, ToolCallRecorder
from voicebot.providers.base import BuildContext, LLMProvider, check_url, settings_kwargs
from voicebot.tools.tool import parse_arguments

#: Sent when a compatible local server needs no key; the OpenAI client refuses an empty one.
NO_KEY = "sk-no-key-required"


class OpenAILLM(LLMProvider):
    """OpenAI's streaming chat completions.

    With ``base_url`` (e.g. ``http://127.0.0.1:11434/v1`` for Ollama, a llama.cpp or vLLM
    server) it talks to that server instead; a key becomes optional and only an explicit
    ``api_key=`` is sent there (``OPENAI_API_KEY`` never leaves for another host).
    """

    name: ClassVar[str] = "openai"
    extra: ClassVar[str | None] = "openai"
    requires: ClassVar[tuple[str, ...]] = ("openai", "pipecat.services.openai.llm")
    api_key_env: ClassVar[str | None] = "OPENAI_API_KEY"

    model: str = Field(default="gpt-4o-mini", min_length=1)
    api_key: SecretStr | None = None
    base_url: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    #: The openai client's own retries of a 429/5xx (None: its default, 2, obeying a
    #: ``Retry-After`` of up to a minute). A fallback group sets 0: it fails over instead.
    max_retries: int | None = Field(default=None, ge=0)

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        check_url(
            value, "OpenAILLM", "base_url", ("http", "https"), example="http://127.0.0.1:11434/v1"
        )
        return value

    @property
    def endpoint(self) -> str:
        """The server asked (named when it cannot be reached or refuses the key)."""
        return self.base_url or "https://api.openai.com/v1"

    def check(self, ctx: BuildContext) -> None:
        self.check_installed()
        if self.base_url is None:
            self.resolve_api_key(ctx)

    def build(self, ctx: BuildContext):  # type: ignore[no-untyped-def]
        OpenAILLMService = voicebot_openai_service()

        if self.base_url is None:
            key = self.resolve_api_key(ctx)
        else:
            # Only an explicit key goes to another server: OPENAI_API_KEY is OpenAI's.
            key = self.api_key.get_secret_value() if self.api_key else NO_KEY
        settings = OpenAILLMService.Settings(
            model=self.model,
            system_instruction=ctx.system_prompt,
            **settings_kwargs(temperature=self.temperature, max_completion_tokens=self.max_tokens),
        )
        return OpenAILLMService(
            api_key=key, base_url=self.base_url, settings=settings, max_retries=self.max_retries
        )


# ---- tool calls with arguments that are not JSON ---------------------------------------------


@functools.cache
def voicebot_openai_service() -> Any:
    """Pipecat's ``OpenAILLMService`` with malformed tool-call arguments passed on.

    Pipecat parses each streamed tool call's arguments with ``json.loads`` and, when that
    fails, logs a warning and drops the call (``services/openai/base_llm.py``): the model
    is never told, and the caller hears nothing. Here the stream is watched as it goes by,
    and each call Pipecat dropped is put back, with arguments
    ``{UNPARSED_ARGUMENTS: "<what the model sent>"}``, before the calls run. The tool's
    handler then answers with an error naming the problem, and the model tries again.

    The class keeps Pipecat's name: it is that service, with this one difference.
    """
    from pipecat.frames.frames import FunctionCallFromLLM
    from pipecat.services.openai.llm import OpenAILLMService as PipecatOpenAILLMService

    class OpenAILLMService(PipecatOpenAILLMService):
        __doc__ = voicebot_openai_service.__doc__

        def __init__(self, *, max_retries: int | None = None, **kwargs: Any) -> None:
            self._voicebot_max_retries = max_retries  # read by create_client, during init
            super().__init__(**kwargs)
            self._streamed_calls: list[StreamedToolCall] = []
            self._streamed_context: Any = None

        def create_client(self, *args: Any, **kwargs: Any) -> Any:
            client = super().create_client(*args, **kwargs)  # type: ignore[no-untyped-call]
            retries = getattr(self, "_voicebot_max_retries", None)
            return client if retries is None else client.with_options(max_retries=retries)

        async def get_chat_completions(self, context: Any) -> Any:
            stream = await super().get_chat_completions(context)
            self._streamed_calls = []
            self._streamed_context = context
            return ToolCallRecorder(stream, self._streamed_calls)

        async def run_function_calls(self, function_calls: Sequence[Any]) -> None:
            streamed, self._streamed_calls = self._streamed_calls, []
            given = {c.tool_call_id: c for c in function_calls}
            restored: list[Any] = []
            for call in streamed:
                if not call.name:
                    continue
                if call.tool_call_id in given:
                    restored.append(given.pop(call.tool_call_id))
                    continue
                logger.warning(
                    f"{self}: {call.name} called with arguments that are not JSON; answering "
                    f"the model with an error: {call.arguments!r}"
                )
                restored.append(
                    FunctionCallFromLLM(
                        function_name=call.name,
                        tool_call_id=call.tool_call_id,
                        arguments=parse_arguments(call.arguments),
                        context=self._streamed_context,
                    )
                )
            restored.extend(given.values())  # anything not seen in the stream, as given
            await super().run_function_calls(restored)

    return OpenAILLMService
