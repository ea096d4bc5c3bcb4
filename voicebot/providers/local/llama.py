"""Offline LLM: a GGUF model run in-process by llama.cpp (``llama-cpp-python``).

In-process rather than behind ``llama_cpp.server``: no HTTP hop per token, and the model
(loaded once per process) is shared by every session. ``base_url=`` instead points at any
OpenAI-compatible local server (Ollama, llama.cpp's server, vLLM).

~450 lines: the service and its provider, which share the loaded model; what the model is
shown is in ``chat_prompt.py``, its cache across tool calls in ``llama_cache.py``, its
threads in ``llama_cores.py`` and ``llama_thread.py``.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, cast

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

from voicebot.errors import ConfigError
from voicebot.pipecat_compat import push_llm_text
from voicebot.providers.base import BuildContext, LLMProvider, llm_settings
from voicebot.providers.local.chat_prompt import chat_messages, conversation_start
from voicebot.providers.local.gguf_requant import q8_0_path
from voicebot.providers.local.llama_cache import SideCaches, kept_cache
from voicebot.providers.local.llama_cores import GenerationThreads
from voicebot.providers.local.llama_runtime import check_llama_runtime
from voicebot.providers.local.llama_thread import AbortFlag, abort_when, model_thread
from voicebot.providers.local.models import QWEN_05B, QWEN_15B, load_once, smollm2_gguf
from voicebot.providers.local.reply_history import earlier_reply_penalty
from voicebot.providers.local.tool_router import (
    ToolRouter,
    ToolSpec,
    argument_prompt,
    extract_arguments,
)
from voicebot.text.reply_guard import ReplyGuard, asks_to_repeat
from voicebot.tools.frames import ToolChosenFrame, ToolDroppedFrame

_DONE = object()
T = TypeVar("T")

#: From routing a request to a tool to the first words of the answer to its result: writing
#: the arguments, the call, the answer's prompt. 1.5-2.5 s with the 0.5B on two cores
#: (``make demo``'s tool turn; docs/offline.md). Told to the tool caller for a process's
#: first tool call (later ones tell it what the last one took), which then says the tool's
#: filler at once when this is longer than its ``filler_after_secs`` (``voicebot.tools.frames``).
TOOL_ANSWER_IN_SECS = 1.5


#: The offline LLM profiles: which packaged GGUF each one loads (docs/offline.md, "LLM
#: profiles", has the measured trade-off). "balanced" is the default.
LlamaProfile = Literal["fast", "balanced", "quality"]
PROFILES: dict[str, tuple[Callable[[], object], Callable[[], Path]]] = {
    # name: (a cheap check that the model is installed, the model file)
    "fast": (smollm2_gguf, smollm2_gguf),  # SmolLM2-135M-Instruct: quickest, weak answers
    # Qwen2.5-Coder-0.5B-Instruct, re-encoded as Q8_0: prompts ~20 % faster (gguf_requant)
    "balanced": (QWEN_05B.part_paths, lambda: q8_0_path(QWEN_05B.path(), QWEN_05B.sha256)),
    "quality": (QWEN_15B.part_paths, QWEN_15B.path),  # 1.5B: voicebot[local-quality]
}


class LoadedLlama:
    """A llama.cpp model plus the lock that serialises its use (one context, many sessions)."""

    def __init__(
        self, path: Path, *, n_ctx: int, threads: int, first_clause_threads: int | None = None
    ) -> None:
        from llama_cpp import Llama

        check_llama_runtime(str(path))  # a build this CPU cannot run: an error, not SIGILL
        # Generation on one thread (the TTS streams beside it); the prompt, which sits on the
        # critical path before the first token, on up to four cores.
        self.llama = Llama(
            str(path),
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=max(threads, min(4, os.cpu_count() or 1)),
            verbose=False,
        )
        # Freed before the interpreter tears its modules down: llama-cpp-python's own
        # ``__del__`` then finds them gone and prints a TypeError traceback at every exit.
        atexit.register(self.llama.close)
        self.lock = threading.Lock()
        #: Every evaluation of the model runs on this one thread, the process's for every
        #: model (``llama_thread.model_thread``): replies, tool arguments, and the warm-up and
        #: measurement below (``evaluate``).
        self.thread = model_thread()
        #: Each tool's argument prompt, cached where its last writing ended (``llama_cache``).
        self.side_caches = SideCaches()
        #: Conversation starts evaluated by ``LlamaLLM.prepare_conversation``, once each.
        self.prepared_starts: set[str] = set()
        #: From a tool's choice to the first token of the answer to its result, as last
        #: measured in this process (None: not yet): the tool caller's ``answer_in_secs``.
        self.tool_answer_secs: float | None = None
        self.path = path

        def warm_up() -> GenerationThreads:
            # The first evaluation allocates and pages in the weights: pay for it at load
            # time, not on the first caller's first turn.
            self.llama.create_chat_completion([{"role": "user", "content": "Hi"}], max_tokens=1)
            return GenerationThreads.calibrated(
                self.llama, threads=threads, burst_threads=first_clause_threads
            )

        #: Two threads until a reply's first clause, then ``threads`` (``llama_cores``).
        self.threads = self.evaluate(warm_up)

    def evaluate(self, fn: Callable[[], T]) -> T:
        """``fn`` on the model's thread, from code that is not async (loading, benchmarks),
        under the model's lock. Why only there: llama.cpp's OpenMP workers belong to the
        thread that evaluates; once a second thread has evaluated too, the process has more
        OpenMP threads than cores and libgomp stops spinning between steps, and two threads
        write no faster than one (57 against 38 ms a token on the 2-core VM; ``llama_thread``)."""

        def locked() -> T:
            with self.lock:  # taken on the model's thread, as replies take it: one order
                return fn()

        return self.thread.call(locked)

    def warm_arguments(self, tool: ToolSpec) -> None:
        """Evaluate ``tool``'s argument prompt now, kept in ``side_caches``, so its first
        call writes only the request's part (~0.4 s less on the first tool turn; ~0.5 s per
        tool here, at load)."""

        llama: Any = self.llama  # the prompt is plain dicts, as extract_arguments sends

        def warm() -> None:
            with kept_cache(llama), self.side_caches.run(llama, arguments_key(tool)):
                llama.create_chat_completion(argument_prompt(tool, ""), max_tokens=1)

        self.evaluate(warm)


def arguments_key(tool: ToolSpec) -> str:
    """``LoadedLlama.side_caches``' key for a tool's argument prompt."""
    return f"arguments:{tool.name}"


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
        max_words: int = 40,
        repeat_penalty: float = 1.1,
        earlier_reply_penalty: float = 0.0,
        earlier_reply_words: int = 0,
        fallback_reply: str | None = None,
        tool_answer_temperature: float | None = None,
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
        self._max_words = max_words
        self._repeat_penalty = repeat_penalty
        self._earlier_reply_penalty = earlier_reply_penalty
        self._earlier_reply_words = earlier_reply_words
        self._fallback_reply = fallback_reply
        self._tool_answer_temperature = tool_answer_temperature
        self._chosen_at: float | None = None  # when this call's last tool was chosen

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

        # Routing embeds the request (CPU work, no model): in a worker thread, not on the
        # event loop, and not behind another call's reply on the model's thread.
        tool = await asyncio.to_thread(ToolRouter(specs).route, request)
        if tool is None:
            return False

        def extract() -> dict[str, Any] | None:
            # Nothing else of the call runs while the arguments are written: on two cores
            # unless another process is busy (``llama_cores``).
            # The conversation's cache is kept; the tool's prompt starts from its last time.
            model, key = self._model, arguments_key(tool)
            with (
                model.lock,
                model.threads.reply(),
                kept_cache(model.llama),
                model.side_caches.run(model.llama, key),
            ):
                return extract_arguments(model.llama, tool, request)

        # The tool caller hears of the choice now, so the filler's wait starts before the
        # arguments are written (~1 s), not after (``voicebot.tools.frames``); the answer is
        # expected as long after as last time in this process (the first time: 1.5 s).
        call_id = f"local_{uuid.uuid4().hex[:12]}"
        expected = self._model.tool_answer_secs or TOOL_ANSWER_IN_SECS
        await self.push_frame(ToolChosenFrame(call_id, tool.name, answer_in_secs=expected))
        self._chosen_at = time.monotonic()
        handed_on = False
        try:
            arguments = await self._model.thread.run(extract)
            if arguments is None:
                return False  # unusable arguments: answer instead
            await self.stop_ttfb_metrics()
            logger.debug(f"{self}: routed {request!r} to {tool.name}({arguments})")
            await self.run_function_calls(
                [
                    FunctionCallFromLLM(
                        context=context,
                        tool_call_id=call_id,
                        function_name=tool.name,
                        arguments=arguments,
                    )
                ]
            )
            handed_on = True
            return True
        finally:
            if not handed_on:  # no call after all (no arguments, an error, cancelled)
                self._chosen_at = None
                await self.push_frame(ToolDroppedFrame(tool_call_id=call_id))

    async def _generate(self, context: LLMContext) -> None:
        # One time to first byte per request: routing and any argument extraction count.
        await self.start_ttfb_metrics()
        if await self._maybe_call_tool(context):
            return
        settings = cast(LLMSettings, self.settings)
        system = settings.system_instruction
        messages = chat_messages(context, system if isinstance(system, str) else None)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = AbortFlag()
        temperature = settings.temperature
        max_tokens = settings.max_tokens
        kwargs: dict[str, Any] = {
            "temperature": temperature if isinstance(temperature, float) else 0.2,
            "max_tokens": max_tokens if isinstance(max_tokens, int) else 80,
            "repeat_penalty": self._repeat_penalty,
            # A spoken reply is one paragraph; small models go on to sign letters ("Best, Alec").
            "stop": ["\n\n"],
        }
        last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        # After a tool ran, restating the request is a confirmation ("Set a timer for 10
        # minutes."), not an echo: only loops and length are guarded then.
        raw = [m for m in context.get_messages() if isinstance(m, dict)]
        after_tool = bool(raw) and raw[-1].get("role") == "tool"
        if after_tool and self._tool_answer_temperature is not None:
            kwargs["temperature"] = self._tool_answer_temperature
        # What the bot said before in this call, to be said again only when asked for.
        earlier = (
            []
            if asks_to_repeat(last_user)
            else [m["content"] for m in messages if m["role"] == "assistant"]
        )
        guard = ReplyGuard(
            request="" if after_tool else last_user,
            earlier=earlier,
            max_words=self._max_words,
            rerun_words=self._earlier_reply_words,
        )

        threads = self._model.threads.plan()

        def produce() -> None:
            if stop.is_set():  # interrupted while queued: leave the model's cache alone
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)
                return
            try:
                with self._model.lock:
                    penalty = earlier_reply_penalty(
                        self._model.llama, earlier, self._earlier_reply_penalty
                    )
                    if penalty is not None:
                        kwargs["logits_processor"] = [penalty]
                    stream = cast(
                        Iterator[Any],
                        self._model.llama.create_chat_completion(
                            messages,  # type: ignore[arg-type]
                            stream=True,
                            **kwargs,
                        ),
                    )
                    # The prompt is evaluated before the first chunk: a cancelled session
                    # cuts that short too (abort_when), then stops between tokens.
                    with self._model.threads.reply(threads):
                        with abort_when(self._model.llama, stop):
                            head = list(itertools.islice(stream, 1))
                        for chunk in itertools.chain(head, stream):
                            if stop.is_set():
                                break
                            delta = chunk["choices"][0]["delta"]
                            if "content" not in delta:
                                continue  # the opening role piece, not a token
                            text = delta["content"]
                            threads.token()
                            if text:
                                loop.call_soon_threadsafe(queue.put_nowait, text)
            except Exception as e:  # surfaced on the event loop below
                loop.call_soon_threadsafe(queue.put_nowait, e)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        worker = self._model.thread.run(produce)
        first = True
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, Exception):
                    raise item
                if first:
                    await self.stop_ttfb_metrics()
                    first = False
                    if after_tool and self._chosen_at is not None:
                        self._model.tool_answer_secs = time.monotonic() - self._chosen_at
                        self._chosen_at = None
                if text := guard.feed(item):
                    threads.said(text)
                    await push_llm_text(self, text)
                if guard.stopped:
                    logger.debug(f"{self}: reply cut ({guard.reason})")
                    break
            if text := guard.finish():
                await push_llm_text(self, text)
            # Never silence after the caller; after a tool, a repeated confirmation is right.
            if guard.swallowed and self._fallback_reply and not after_tool:
                logger.debug(f"{self}: the whole reply repeated something; asking instead")
                await push_llm_text(self, self._fallback_reply)
            if guard.reruns:
                logger.debug(f"{self}: {guard.reruns} rerun(s) of an earlier reply not spoken")
        finally:
            stop.set()  # on interruption (CancelledError) the thread stops at the next token
            if not worker.done():
                worker.add_done_callback(lambda _f: None)


class LlamaLLM(LLMProvider):
    """Offline LLM in-process: a packaged model by ``profile`` ("balanced", the default:
    Qwen2.5-Coder-0.5B-Instruct; "fast": SmolLM2-135M; "quality": Qwen2.5-Coder-1.5B, from
    ``voicebot[local-quality]``), ``model_path`` for any GGUF file, or ``base_url``
    (+ ``model``) for an OpenAI-compatible local server.

    ``max_words`` ends a reply at the first sentence end past that many words; replies that
    echo the caller or loop are cut before they are spoken (``voicebot.text.reply_guard``).
    """

    name: ClassVar[str] = "llama"
    extra: ClassVar[str | None] = "local"
    requires: ClassVar[tuple[str, ...]] = ("llama_cpp",)
    supports_tools: ClassVar[bool] = True

    profile: LlamaProfile = "balanced"
    model_path: Path | None = None
    base_url: str | None = None
    model: str | None = None
    threads: int = Field(default=1, ge=1)
    #: Threads a reply is written on until its first clause, while the cores are free: the
    #: caller waits for that clause and nothing else runs yet (``llama_cores``); at most the
    #: cores this process may use; 1 (or ``threads``): never more than ``threads``.
    first_clause_threads: int = Field(default=2, ge=1)
    n_ctx: int = Field(default=2048, ge=256)
    temperature: float = Field(default=0.2, ge=0)
    #: The answer to a tool's result states a fact: sampled at 0.2, the 0.5B made up the
    #: demo library's Sunday hours in 7 of 20 answers; its likeliest words (0) said "closed"
    #: (docs/offline.md, "Tool calling offline"). None: ``temperature``.
    tool_answer_temperature: float | None = Field(default=0.0, ge=0)
    max_tokens: int = Field(default=80, ge=1)
    max_words: int = Field(default=30, ge=1)
    repeat_penalty: float = Field(default=1.1, ge=1.0)
    #: How hard a reply is steered away from copying an earlier reply of the call (0: not).
    earlier_reply_penalty: float = Field(default=0.8, ge=0)
    #: A run this many words long copied from an earlier reply is not spoken (0: allowed).
    earlier_reply_words: int = Field(default=6, ge=0)
    #: Said when the guard dropped the whole reply (all of it echoed the caller or an earlier
    #: reply), so the caller never gets silence; None: say nothing.
    fallback_reply: str | None = "Could you tell me a bit more?"

    def cores_per_call(self) -> float | None:
        """The whole offline stack (Whisper, this model, Piper) of one call keeps real time on
        two cores, not on one: measured on a 2-core VM, one call answered with caller-side
        voice-to-voice p95 2.4 s; two at once, p95 +1.45 s and 1 turn in 8 unanswered
        (``python -m benchmarks.serve_load --bot examples/offline_bot.py --calls 1 2
        --fault-calls 0 --name serve_load_offline``; docs/serving.md). llama.cpp spreads one
        reply over every core. A model behind ``base_url`` runs elsewhere: None."""
        return None if self.base_url is not None else 2.0

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
        if self.model_path is None:
            PROFILES[self.profile][0]()  # installed? (MissingExtraError names the extra)
        elif not self.model_path.is_file():
            raise ConfigError(f"LlamaLLM(model_path={self.model_path}): no such file")

    def model_file(self) -> Path:
        """The GGUF this provider loads (joining a packaged model's parts once)."""
        return self.model_path or PROFILES[self.profile][1]()

    def loaded(self) -> LoadedLlama:
        """The model, loaded once per process; the file is resolved (and a packaged model's
        parts joined) only by the first caller, never again on a session's build."""
        which = str(self.model_path) if self.model_path else f"profile {self.profile}"
        return load_once(
            f"llama:{which}:{self.n_ctx}:{self.threads}:{self.first_clause_threads}",
            f"LLM ({which})",
            lambda: LoadedLlama(
                self.model_file(),
                n_ctx=self.n_ctx,
                threads=self.threads,
                first_clause_threads=self.first_clause_threads,
            ),
        )

    def prepare(self) -> None:
        if self.base_url is None:
            self.loaded()

    def in_process_model(self) -> Callable[[], LoadedLlama] | None:
        return self.loaded if self.base_url is None else None

    def prepare_tools(self, schemas: list[Any]) -> None:
        """Load the routing model and embed these tools' texts now (~1 s for mpnet; the
        very first run on a machine also unpacks it), not on the caller's first request."""
        if self.base_url is None and schemas:
            specs = [ToolSpec.from_function_schema(s) for s in schemas]
            ToolRouter(specs).route("warm up")
            model = self.loaded()
            for spec in specs:
                model.warm_arguments(spec)

    def prepare_conversation(self, system_prompt: str, greeting: str | None) -> None:
        """Evaluate the system prompt and the greeting into llama.cpp's cache, once per
        process (``Bot.prepare`` runs before every call): a call's prompt begins with them
        (``chat_prompt.conversation_start``) unless the session adds to the system prompt
        (background tools' instructions) or puts notes before the greeting (memory), and a
        process's first call otherwise evaluates them on its first turn (~65 tokens, ~0.4 s)."""
        if self.base_url is not None:
            return
        model = self.loaded()
        start: Any = conversation_start(system_prompt, greeting)  # plain dicts
        key = repr(start)
        if key in model.prepared_starts:  # once per process: later calls find it cached, or
            return  # another call's conversation, which must not be cut back to the start
        model.prepared_starts.add(key)
        try:
            model.evaluate(lambda: model.llama.create_chat_completion(start, max_tokens=1))
        except Exception as e:  # a template that refuses it: the first turn pays, as before
            logger.warning(f"local LLM: the conversation's start was not prepared: {e}")

    def build(self, ctx: BuildContext) -> Any:
        if self.base_url is not None:
            return self._server().build(ctx)
        logger.debug(f"local LLM: {self.describe()}")
        return LlamaCppLLMService(
            self.loaded(),
            system_instruction=ctx.system_prompt,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            max_words=self.max_words,
            repeat_penalty=self.repeat_penalty,
            earlier_reply_penalty=self.earlier_reply_penalty,
            earlier_reply_words=self.earlier_reply_words,
            fallback_reply=self.fallback_reply,
            tool_answer_temperature=self.tool_answer_temperature,
        )
