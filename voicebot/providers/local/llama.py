"""Offline LLM: a GGUF model run in-process by llama.cpp (``llama-cpp-python``).

In-process rather than behind ``llama_cpp.server``: no HTTP hop per token, and the model
(loaded once per process) is shared by every session. ``base_url=`` instead points at any
OpenAI-compatible local server (Ollama, llama.cpp's server, vLLM).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
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
from pydantic import Field

from voicebot.errors import ConfigError
from voicebot.providers.base import BuildContext, LLMProvider, llm_settings
from voicebot.providers.local.models import load_once, smollm2_gguf
from voicebot.providers.local.tool_router import ToolRouter, ToolSpec, extract_arguments

_DONE = object()


class LoadedLlama:
    """A llama.cpp model plus the lock that serialises its use (one context, many sessions)."""

    def __init__(self, path: Path, *, n_ctx: int, threads: int) -> None:
        from llama_cpp import Llama

        # Generation on one thread (the TTS streams beside it); the prompt, which sits on the
        # critical path before the first token, on both cores.
        self.llama = Llama(
            str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=2, verbose=False
        )
        self.lock = threading.Lock()
        self.path = path
        # The first evaluation allocates and pages in the weights: pay for it at load time,
        # not on the first caller's first turn.
        self.llama.create_chat_completion([{"role": "user", "content": "Hi"}], max_tokens=1)


def chat_messages(context: LLMContext, system: str | None) -> list[dict[str, str]]:
    """The context as plain chat messages a small local model's template accepts."""
    out: list[dict[str, str]] = []
    if system:
        out.append({"role": "system", "content": system})
    for m in context.get_messages():
        if not isinstance(m, dict):
            continue
        role, content = m.get("role"), m.get("content")
        if isinstance(content, list):
            content = " ".join(
                p.get("text", "")
                for p in content
                if isinstance(p, dict) and p.get("type") == "text"
            )
        if role in ("developer",):
            role = "system"
        if role == "tool":
            role, content = "system", f"Tool result: {content}"
        if role in ("system", "user", "assistant") and isinstance(content, str) and content:
            out.append({"role": role, "content": content})
    return out


class LlamaCppLLMService(LLMService):
    """Pipecat LLM service streaming tokens from an in-process llama.cpp model.

    Generation runs in a worker thread; an interruption stops it at the next token. With
    tools, a new request is first routed (``tool_router``): a matching tool is called with
    arguments generated under its JSON schema's grammar, and the model then answers from
    the result.
    """

    def __init__(
        self,
        model: LoadedLlama,
        *,
        system_instruction: str | None,
        temperature: float,
        max_tokens: int,
    ) -> None:
        super().__init__(
            settings=llm_settings(
                model.path.name,
                system_instruction=system_instruction,
                temperature=temperature,
                max_tokens=max_tokens,
            )
        )
        self._model = model

    def can_generate_metrics(self) -> bool:
        return True

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            await self.push_frame(LLMFullResponseStartFrame())
            await self.start_processing_metrics()
            try:
                await self._generate(frame.context)
            except Exception as e:
                await self.push_error(error_msg=f"local LLM failed: {e}", exception=e)
            finally:
                await self.stop_processing_metrics()
                await self.push_frame(LLMFullResponseEndFrame())
        else:
            await self.push_frame(frame, direction)

    async def _maybe_call_tool(self, context: LLMContext) -> bool:
        """Route a fresh user request to a tool and call it; True if a call was made."""
        tools = context.tools
        standard = getattr(tools, "standard_tools", None)
        if not standard:
            return False
        messages = [m for m in context.get_messages() if isinstance(m, dict)]
        if not messages or messages[-1].get("role") != "user":
            return False  # answering a tool result or a note, not a new request
        request = messages[-1].get("content")
        if not isinstance(request, str) or not request.strip():
            return False
        specs = [ToolSpec.from_function_schema(t) for t in standard if hasattr(t, "name")]
        tool = ToolRouter(specs).route(request)
        if tool is None:
            return False
        await self.start_ttfb_metrics()

        def extract() -> dict[str, Any]:
            with self._model.lock:
                return extract_arguments(self._model.llama, tool, request)

        arguments = await asyncio.to_thread(extract)
        await self.stop_ttfb_metrics()
        logger.debug(f"{self}: routed {request!r} to {tool.name}({arguments})")
        await self.run_function_calls(
            [
                FunctionCallFromLLM(
                    context=context,
                    tool_call_id=f"local_{uuid.uuid4().hex[:12]}",
                    function_name=tool.name,
                    arguments=arguments,
                )
            ]
        )
        return True

    async def _generate(self, context: LLMContext) -> None:
        if await self._maybe_call_tool(context):
            return
        system = self._settings.system_instruction
        messages = chat_messages(context, system if isinstance(system, str) else None)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()
        temperature = self._settings.temperature
        max_tokens = self._settings.max_tokens
        kwargs: dict[str, Any] = {
            "temperature": temperature if isinstance(temperature, float) else 0.2,
            "max_tokens": max_tokens if isinstance(max_tokens, int) else 60,
            # A spoken reply is one paragraph; small models go on to sign letters ("Best, Alec").
            "stop": ["\n\n"],
        }

        def produce() -> None:
            try:
                with self._model.lock:
                    stream = cast(
                        Iterator[Any],
                        self._model.llama.create_chat_completion(
                            messages,  # type: ignore[arg-type]
                            stream=True,
                            **kwargs,
                        ),
                    )
                    for chunk in stream:
                        if stop.is_set():
                            break
                        text = chunk["choices"][0]["delta"].get("content")
                        if text:
                            loop.call_soon_threadsafe(queue.put_nowait, text)
            except Exception as e:  # surfaced on the event loop below
                loop.call_soon_threadsafe(queue.put_nowait, e)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        await self.start_ttfb_metrics()
        worker = loop.run_in_executor(None, produce)
        first = True
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, Exception):
                    raise item
                if first:
                    await self.stop_ttfb_metrics()
                    first = False
                await self._push_llm_text(item)
        finally:
            stop.set()  # on interruption (CancelledError) the thread stops at the next token
            if not worker.done():
                worker.add_done_callback(lambda _f: None)


class LlamaLLM(LLMProvider):
    """Offline LLM: SmolLM2-135M-Instruct by default; ``model_path`` for any GGUF file, or
    ``base_url`` (+ ``model``) for an OpenAI-compatible local server."""

    name: ClassVar[str] = "llama"
    extra: ClassVar[str | None] = "local"
    requires: ClassVar[tuple[str, ...]] = ("llama_cpp",)
    supports_tools: ClassVar[bool] = True

    model_path: Path | None = None
    base_url: str | None = None
    model: str | None = None
    threads: int = Field(default=1, ge=1)
    n_ctx: int = Field(default=2048, ge=256)
    temperature: float = Field(default=0.2, ge=0)
    max_tokens: int = Field(default=60, ge=1)

    def _server(self) -> Any:
        from voicebot.providers.openai import OpenAILLM

        return OpenAILLM(
            base_url=self.base_url,
            model=self.model or "default",
            temperature=self.temperature,
            max_tokens=self.max_tokens,
        )

    def check(self, ctx: BuildContext) -> None:
        if self.base_url is not None:
            if self.model_path is not None:
                raise ConfigError("LlamaLLM takes model_path= or base_url=, not both")
            self._server().check(ctx)
            return
        super().check(ctx)
        path = self.model_path or smollm2_gguf()
        if not path.is_file():
            raise ConfigError(f"LlamaLLM(model_path={path}): no such file")

    def loaded(self) -> LoadedLlama:
        path = self.model_path or smollm2_gguf()
        return load_once(
            f"llama:{path}:{self.n_ctx}:{self.threads}",
            f"LLM {path.name}",
            lambda: LoadedLlama(path, n_ctx=self.n_ctx, threads=self.threads),
        )

    def prepare(self) -> None:
        if self.base_url is None:
            self.loaded()

    def build(self, ctx: BuildContext) -> Any:
        if self.base_url is not None:
            return self._server().build(ctx)
        logger.debug(f"local LLM: {self.describe()}")
        return LlamaCppLLMService(
            self.loaded(),
            system_instruction=ctx.system_prompt,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
        )
