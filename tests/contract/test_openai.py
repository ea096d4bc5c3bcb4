"""Contract tests: ``OpenAILLM`` against a local server speaking OpenAI's Chat Completions.

The service under test is always the one ``OpenAILLM(...).build(...)`` returns (Pipecat's
``OpenAILLMService``), pointed at ``OpenAIChatServer`` on loopback, which replies from a
script and records what it was sent. One test at the end talks to the real API and only
runs with ``OPENAI_API_KEY`` set.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import (
    EndFrame,
    ErrorFrame,
    Frame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMRunFrame,
    LLMTextFrame,
    MetricsFrame,
    StartFrame,
)
from pipecat.metrics.metrics import LLMUsageMetricsData
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.llm_service import FunctionCallParams
from pipecat.tests.utils import run_test
from pipecat.utils.errors import ErrorCategory
from pipecat.workers.runner import WorkerRunner

from tests.contract.servers.openai_chat import (
    Drop,
    OpenAIChatServer,
    ToolCall,
    drop,
    rate_limited,
    server_error,
    text,
    tool_call,
    tool_calls,
    unauthorized,
)
from voicebot.providers.base import BuildContext
from voicebot.providers.openai import NO_KEY, OpenAILLM

pytestmark = pytest.mark.contract

KEY = "sk-contract-0123456789abcdef"
MODEL = "gpt-4o-mini"
SYSTEM = "You are a terse voice assistant. Answer in one sentence."
USER = "Hello, who are you?"

WEATHER = FunctionSchema(
    name="get_weather",
    description="Current weather in a city",
    properties={
        "location": {"type": "string", "description": "City and country"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    required=["location"],
)
TIME = FunctionSchema(
    name="get_time",
    description="Current local time in a city",
    properties={"location": {"type": "string"}},
    required=["location"],
)


def build_llm(server: OpenAIChatServer, **options: Any):
    options.setdefault("model", MODEL)
    options.setdefault("api_key", KEY)
    return OpenAILLM(base_url=server.base_url, **options).build(BuildContext(env={}))


def conversation(tools: Sequence[FunctionSchema] | None = None) -> LLMContext:
    messages: list[Any] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": USER},
    ]
    if tools is None:
        return LLMContext(messages=messages)
    return LLMContext(messages=messages, tools=ToolsSchema(standard_tools=list(tools)))


def responses(frames: Sequence[Frame]) -> list[list[Frame]]:
    """The frames of each response, from its LLMFullResponseStartFrame to its end frame."""
    out: list[list[Frame]] = []
    current: list[Frame] | None = None
    for frame in frames:
        if isinstance(frame, LLMFullResponseStartFrame):
            assert current is None, "a response started inside another"
            current = [frame]
        elif current is not None:
            current.append(frame)
            if isinstance(frame, LLMFullResponseEndFrame):
                out.append(current)
                current = None
    assert current is None, "a response never ended"
    return out


def spoken(frames: Sequence[Frame]) -> str:
    return "".join(f.text for f in frames if isinstance(f, LLMTextFrame))


def errors(frames: Sequence[Frame]) -> list[ErrorFrame]:
    return [f for f in frames if isinstance(f, ErrorFrame)]


# ---- a pipeline that runs until the test has seen what it waits for ---------------------------


class FrameLog(FrameProcessor):
    """Passes every frame on, keeping the ones travelling in ``direction``."""

    def __init__(self, direction: FrameDirection) -> None:
        super().__init__(enable_direct_mode=True)
        self.direction = direction
        self.frames: list[Frame] = []
        self._changed = asyncio.Condition()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == self.direction and not isinstance(frame, StartFrame | EndFrame):
            async with self._changed:
                self.frames.append(frame)
                self._changed.notify_all()
        await self.push_frame(frame, direction)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)


async def drive(
    pair: LLMContextAggregatorPair,
    llm: FrameProcessor,
    frames: Sequence[Frame],
    *,
    until: Callable[[list[Frame]], bool],
    timeout: float = 6.0,
) -> tuple[list[Frame], list[Frame]]:
    """Run ``user -> llm -> assistant``, queue ``frames``, and end once ``until(down)``.

    ``down`` is what the LLM pushed downstream, tapped before the assistant aggregator
    (which consumes responses); ``up`` is what reached the top of the pipeline.
    ``run_test`` ends its pipeline right after the last frame it sends, which is too early
    for a tool call: the handler and the follow-up inference run in tasks of their own.
    """
    up = FrameLog(FrameDirection.UPSTREAM)
    down = FrameLog(FrameDirection.DOWNSTREAM)
    pipeline = Pipeline([up, pair.user(), llm, down, pair.assistant()])
    worker = PipelineWorker(pipeline, cancel_on_idle_timeout=False)
    started = asyncio.Event()

    @worker.event_handler("on_pipeline_started")
    async def _started(worker: PipelineWorker, frame: Frame) -> None:
        started.set()

    async def feed() -> None:
        try:
            await asyncio.wait_for(started.wait(), 2.0)
            await worker.queue_frames(list(frames))
            await down.wait_for(lambda: until(down.frames), timeout)
        except BaseException:
            await worker.cancel()
            raise
        await worker.queue_frame(EndFrame())

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await asyncio.wait_for(asyncio.gather(runner.run(), feed()), timeout + 4.0)
    return down.frames, up.frames


def ended_responses(count: int) -> Callable[[list[Frame]], bool]:
    return lambda frames: sum(isinstance(f, LLMFullResponseEndFrame) for f in frames) >= count


# ---- streaming text --------------------------------------------------------------------------


async def test_streamed_text_arrives_as_text_frames_inside_one_response():
    reply = "Hi! I'm a voice assistant, here to help you."
    async with OpenAIChatServer([text(reply)], api_key=KEY) as server:
        llm = build_llm(server)
        down, up = await run_test(llm, frames_to_send=[LLMContextFrame(conversation())])

    assert errors(up) == []
    [response] = responses(down)
    assert isinstance(response[0], LLMFullResponseStartFrame)
    assert isinstance(response[-1], LLMFullResponseEndFrame)
    texts = [f.text for f in response if isinstance(f, LLMTextFrame)]
    # One frame per streamed delta, in order, nothing added or lost.
    assert texts == ["Hi!", " I'm", " a", " voice", " assistant,", " here", " to", " help", " you."]
    assert "".join(texts) == reply
    # No text escapes the response brackets.
    assert spoken(down) == reply


async def test_request_carries_model_messages_options_and_bearer_key():
    async with OpenAIChatServer([text("Sure.")], api_key=KEY) as server:
        llm = build_llm(server, model="gpt-4.1-nano", temperature=0.3, max_tokens=77)
        _, up = await run_test(llm, frames_to_send=[LLMContextFrame(conversation())])

    assert errors(up) == []
    [request] = server.requests
    assert request.method == "POST" and request.path == "/v1/chat/completions"
    assert request.authorization == f"Bearer {KEY}"
    body = request.body
    assert body["model"] == "gpt-4.1-nano"
    assert body["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": USER},
    ]
    assert body["temperature"] == 0.3
    # The provider's max_tokens travels as OpenAI's newer max_completion_tokens.
    assert body["max_completion_tokens"] == 77
    assert "max_tokens" not in body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    # Nothing was offered, so no tools and no tool_choice are sent.
    assert "tools" not in body and "tool_choice" not in body


async def test_unset_options_are_left_to_the_server():
    async with OpenAIChatServer([text("Sure.")], api_key=KEY) as server:
        llm = build_llm(server)
        await run_test(llm, frames_to_send=[LLMContextFrame(conversation())])

    body = server.requests[0].body
    assert body["model"] == MODEL
    for unset in ("temperature", "max_completion_tokens", "max_tokens", "top_p", "seed"):
        assert unset not in body, unset


async def test_usage_chunk_is_reported_as_token_usage_metrics():
    async with OpenAIChatServer(
        [text("Two words.", prompt_tokens=31, completion_tokens=2)], api_key=KEY
    ) as server:
        llm = build_llm(server)
        down, _ = await run_test(
            llm,
            frames_to_send=[LLMContextFrame(conversation())],
            pipeline_params=PipelineParams(enable_metrics=True, enable_usage_metrics=True),
        )

    usage = [
        d.value
        for f in down
        if isinstance(f, MetricsFrame)
        for d in f.data
        if isinstance(d, LLMUsageMetricsData)
    ]
    assert len(usage) == 1
    assert (usage[0].prompt_tokens, usage[0].completion_tokens, usage[0].total_tokens) == (
        31,
        2,
        33,
    )


async def test_provider_with_base_url_and_no_key_sends_the_placeholder_bearer():
    async with OpenAIChatServer([text("Local model here.")], api_key=NO_KEY) as server:
        llm = OpenAILLM(model="llama3.2", base_url=server.base_url).build(BuildContext(env={}))
        down, up = await run_test(llm, frames_to_send=[LLMContextFrame(conversation())])

    assert errors(up) == []
    assert spoken(down) == "Local model here."
    assert server.requests[0].bearer == NO_KEY == "sk-no-key-required"
    assert server.requests[0].body["model"] == "llama3.2"


async def test_provider_with_base_url_never_sends_the_openai_key_from_the_env():
    # A key for api.openai.com must not leak to whatever server base_url names.
    async with OpenAIChatServer([text("Ok.")]) as server:
        llm = OpenAILLM(base_url=server.base_url).build(
            BuildContext(env={"OPENAI_API_KEY": "sk-real-openai-key"})
        )
        down, up = await run_test(llm, frames_to_send=[LLMContextFrame(conversation())])

    assert errors(up) == []
    assert spoken(down) == "Ok."
    assert server.requests[0].bearer == NO_KEY


async def test_provider_with_base_url_sends_an_explicit_key():
    async with OpenAIChatServer([text("Ok.")], api_key="sk-for-this-server") as server:
        llm = OpenAILLM(base_url=server.base_url, api_key="sk-for-this-server").build(
            BuildContext(env={"OPENAI_API_KEY": "sk-real-openai-key"})
        )
        down, up = await run_test(llm, frames_to_send=[LLMContextFrame(conversation())])

    assert errors(up) == []
    assert spoken(down) == "Ok."
    assert server.requests[0].bearer == "sk-for-this-server"


async def test_non_streaming_inference_gets_the_message_content():
    async with OpenAIChatServer([text("Fine, thanks.")], api_key=KEY) as server:
        llm = build_llm(server, max_tokens=50)
        answer = await llm.run_inference(conversation())

    assert answer == "Fine, thanks."
    body = server.requests[0].body
    assert body["stream"] is False
    assert "stream_options" not in body
    assert body["max_completion_tokens"] == 50
    assert body["messages"][-1] == {"role": "user", "content": USER}


# ---- tool calls ------------------------------------------------------------------------------


async def test_tool_call_with_fragmented_arguments_runs_the_handler_and_returns_the_result():
    arguments = {"location": "Paris, France", "unit": "celsius"}
    result = {"temperature": 18, "unit": "celsius", "sky": "overcast"}
    async with OpenAIChatServer(
        [
            tool_call("get_weather", arguments, id="call_weather_1", fragments=6),
            text("It is 18 degrees and overcast in Paris."),
        ],
        api_key=KEY,
    ) as server:
        llm = build_llm(server)
        calls: list[FunctionCallParams] = []

        async def get_weather(params: FunctionCallParams) -> None:
            calls.append(params)
            await params.result_callback(result)

        llm.register_function("get_weather", get_weather)
        context = conversation(tools=[WEATHER])
        pair = LLMContextAggregatorPair(context)
        down, up = await drive(pair, llm, [LLMRunFrame()], until=ended_responses(2))

    assert errors(up) == []
    # The handler ran once, with the fragments joined and parsed into a dict.
    [call] = calls
    assert call.function_name == "get_weather"
    assert call.tool_call_id == "call_weather_1"
    assert dict(call.arguments) == arguments

    # The tool was offered in OpenAI's function-tool format.
    first, second = server.requests
    assert first.body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather in a city",
                "parameters": {
                    "type": "object",
                    "properties": WEATHER.properties,
                    "required": ["location"],
                },
            },
        }
    ]

    # The follow-up request replays the call and its result.
    messages = second.messages
    assert messages[:2] == first.messages
    assistant, tool = messages[2:]
    assert assistant["role"] == "assistant"
    [sent_call] = assistant["tool_calls"]
    assert sent_call["id"] == "call_weather_1"
    assert sent_call["type"] == "function"
    assert sent_call["function"]["name"] == "get_weather"
    assert json.loads(sent_call["function"]["arguments"]) == arguments
    assert tool == {"role": "tool", "tool_call_id": "call_weather_1", "content": json.dumps(result)}

    # The frames: a response with no text that carries the call, then the spoken answer.
    tool_response, answer = responses(down)
    assert spoken(tool_response) == ""
    assert spoken(answer) == "It is 18 degrees and overcast in Paris."
    assert [f.tool_call_id for f in down if isinstance(f, FunctionCallInProgressFrame)] == [
        "call_weather_1"
    ]
    assert [f.result for f in down if isinstance(f, FunctionCallResultFrame)] == [result]
    # And the context the aggregators keep ends with that answer.
    assert context.get_messages()[-1] == {
        "role": "assistant",
        "content": "It is 18 degrees and overcast in Paris.",
    }


async def test_two_tool_calls_in_one_response_both_run_before_one_follow_up():
    async with OpenAIChatServer(
        [
            tool_calls(
                ToolCall("get_weather", {"location": "Oslo, Norway"}, id="call_w", fragments=4),
                ToolCall("get_time", {"location": "Oslo, Norway"}, id="call_t", fragments=3),
            ),
            text("It's 4 degrees and 10 pm in Oslo."),
        ],
        api_key=KEY,
    ) as server:
        llm = build_llm(server)
        seen: dict[str, dict[str, Any]] = {}

        async def get_weather(params: FunctionCallParams) -> None:
            seen[params.tool_call_id] = dict(params.arguments)
            await params.result_callback({"temperature": 4})

        async def get_time(params: FunctionCallParams) -> None:
            seen[params.tool_call_id] = dict(params.arguments)
            await params.result_callback({"time": "22:00"})

        llm.register_function("get_weather", get_weather)
        llm.register_function("get_time", get_time)
        pair = LLMContextAggregatorPair(conversation(tools=[WEATHER, TIME]))
        down, up = await drive(pair, llm, [LLMRunFrame()], until=ended_responses(2))
        # Give a (wrong) third inference a moment to show up before counting requests.
        await asyncio.sleep(0.2)

    assert errors(up) == []
    assert seen == {"call_w": {"location": "Oslo, Norway"}, "call_t": {"location": "Oslo, Norway"}}
    # Both results go back in a single follow-up request, not one per result.
    assert len(server.requests) == 2 and server.unscripted == []
    messages = server.requests[1].messages
    sent_calls = {
        c["id"]: (c["function"]["name"], json.loads(c["function"]["arguments"]))
        for m in messages
        if m["role"] == "assistant"
        for c in m.get("tool_calls", [])
    }
    assert sent_calls == {
        "call_w": ("get_weather", {"location": "Oslo, Norway"}),
        "call_t": ("get_time", {"location": "Oslo, Norway"}),
    }
    results = {m["tool_call_id"]: json.loads(m["content"]) for m in messages if m["role"] == "tool"}
    assert results == {"call_w": {"temperature": 4}, "call_t": {"time": "22:00"}}
    # Pipecat writes each call as its own assistant message, its tool message right after
    # (a shape OpenAI accepts): every tool message answers the call just before it.
    assert [m["role"] for m in messages[2:]] == ["assistant", "tool", "assistant", "tool"]
    for i, m in enumerate(messages):
        if m["role"] == "tool":
            assert [c["id"] for c in messages[i - 1]["tool_calls"]] == [m["tool_call_id"]]
    assert spoken(responses(down)[-1]) == "It's 4 degrees and 10 pm in Oslo."


# ---- failures --------------------------------------------------------------------------------

RECOVERED = "Back again."


@pytest.mark.parametrize(
    ("failure", "requests_spent", "category", "message"),
    [
        # The openai SDK retries 5xx and 429 twice on its own, so the error surfaces only
        # after three failed attempts; 401 and a dropped stream are not retried.
        pytest.param(
            [server_error()] * 3, 3, ErrorCategory.SERVER, "Error code: 500", id="http-500"
        ),
        pytest.param(
            [rate_limited()] * 3, 3, ErrorCategory.RATE_LIMIT, "Error code: 429", id="http-429"
        ),
        pytest.param(
            [unauthorized()],
            1,
            ErrorCategory.AUTHENTICATION,
            "Incorrect API key provided",
            id="http-401",
        ),
        pytest.param(
            [drop("Let me che")], 1, ErrorCategory.UNKNOWN, "Connection error", id="dropped-stream"
        ),
    ],
)
async def test_failure_pushes_one_error_upstream_and_the_next_request_works(
    failure, requests_spent, category, message
):
    async with OpenAIChatServer([*failure, text(RECOVERED)], api_key=KEY) as server:
        llm = build_llm(server)
        context = conversation()
        down, up = await run_test(
            llm, frames_to_send=[LLMContextFrame(context), LLMContextFrame(context)]
        )

    # One ErrorFrame, upstream, from the LLM service, naming what went wrong.
    [error] = errors(up)
    assert error.processor is llm
    assert error.category is category
    assert message in error.error
    assert not error.fatal
    assert errors(down) == []

    # The failed response is still bracketed, so downstream aggregators close their turn.
    failed, recovered = responses(down)
    assert spoken(recovered) == RECOVERED
    # A dropped stream keeps what it had streamed; an HTTP error streams nothing.
    assert spoken(failed) == ("Let me che" if isinstance(failure[0], Drop) else "")

    # The service is not wedged: the next context got a fresh request and its answer.
    assert len(server.requests) == requests_spent + 1
    assert server.requests[-1].body["messages"] == server.requests[0].body["messages"]


async def test_authentication_error_marks_the_service_unusable_but_it_keeps_serving():
    async with OpenAIChatServer([unauthorized(), text(RECOVERED)], api_key=KEY) as server:
        llm = build_llm(server)
        context = conversation()
        down, up = await run_test(
            llm, frames_to_send=[LLMContextFrame(context), LLMContextFrame(context)]
        )

    assert [e.category for e in errors(up)] == [ErrorCategory.AUTHENTICATION]
    # A permanent error category flips is_usable, and a later success doesn't flip it back;
    # an LLM service still answers the contexts it is given (only STT/TTS gate on it).
    assert llm.is_usable is False
    assert spoken(responses(down)[1]) == RECOVERED
    assert len(server.requests) == 2


async def test_wrong_key_is_rejected_with_openais_401_and_not_retried():
    async with OpenAIChatServer([text("never sent")], api_key=KEY) as server:
        llm = build_llm(server, api_key="sk-wrong-key-0000")
        down, up = await run_test(llm, frames_to_send=[LLMContextFrame(conversation())])

    [error] = errors(up)
    assert error.category is ErrorCategory.AUTHENTICATION
    assert "Error code: 401" in error.error and "Incorrect API key provided" in error.error
    assert [r.bearer for r in server.requests] == ["sk-wrong-key-0000"]
    assert server.script, "the scripted reply must not have been used"
    assert spoken(down) == ""


# ---- the fake itself -------------------------------------------------------------------------


async def test_fake_server_speaks_what_the_openai_sdk_parses():
    """Guards the fake: if the official client can't read it, the tests above mean little."""
    from openai import AsyncOpenAI, AuthenticationError

    async with OpenAIChatServer(
        [tool_call("get_weather", {"location": "Rome"}, id="call_r"), text("Ciao!")],
        api_key=KEY,
        models=("gpt-4o-mini", "gpt-4.1"),
    ) as server:
        client = AsyncOpenAI(api_key=KEY, base_url=server.base_url, max_retries=0)
        models = await client.models.list()
        assert [m.id for m in models.data] == ["gpt-4o-mini", "gpt-4.1"]

        completion = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "weather?"}]
        )
        [choice] = completion.choices
        assert choice.finish_reason == "tool_calls"
        assert choice.message.tool_calls is not None
        assert choice.message.tool_calls[0].id == "call_r"
        assert json.loads(choice.message.tool_calls[0].function.arguments) == {"location": "Rome"}

        stream = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [c async for c in stream]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Ciao!"
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
        assert chunks[-1].choices == [] and chunks[-1].usage is not None

        bad = AsyncOpenAI(api_key="sk-nope", base_url=server.base_url, max_retries=0)
        with pytest.raises(AuthenticationError):
            await bad.models.list()
        await client.close()
        await bad.close()


# ---- the real API ----------------------------------------------------------------------------


@pytest.mark.cloud
@pytest.mark.skipif(
    not os.environ.get("OPENAI_API_KEY"),
    reason="OPENAI_API_KEY is not set: the real OpenAI API cannot be reached without a key",
)
async def test_real_openai_streams_a_reply_and_calls_a_tool():
    key = os.environ["OPENAI_API_KEY"]
    llm = OpenAILLM(model="gpt-4o-mini", temperature=0, max_tokens=40).build(
        BuildContext(env={"OPENAI_API_KEY": key})
    )
    context = LLMContext(
        messages=[
            {"role": "system", "content": "Reply with exactly one word: pong."},
            {"role": "user", "content": "ping"},
        ]
    )
    down, up = await run_test(llm, frames_to_send=[LLMContextFrame(context)])
    assert errors(up) == []
    [response] = responses(down)
    assert "pong" in spoken(response).lower()

    llm = OpenAILLM(model="gpt-4o-mini", temperature=0, max_tokens=60).build(
        BuildContext(env={"OPENAI_API_KEY": key})
    )
    calls: list[dict[str, Any]] = []

    async def get_weather(params: FunctionCallParams) -> None:
        calls.append(dict(params.arguments))
        await params.result_callback({"temperature": 21, "unit": "celsius"})

    llm.register_function("get_weather", get_weather)
    context = LLMContext(
        messages=[
            {"role": "system", "content": "Use the get_weather tool to answer weather questions."},
            {"role": "user", "content": "What's the weather in Paris, France right now?"},
        ],
        tools=ToolsSchema(standard_tools=[WEATHER]),
    )
    pair = LLMContextAggregatorPair(context)
    down, up = await drive(pair, llm, [LLMRunFrame()], until=ended_responses(2), timeout=30.0)
    assert errors(up) == []
    assert len(calls) == 1 and "paris" in calls[0]["location"].lower()
    assert "21" in spoken(responses(down)[-1])
