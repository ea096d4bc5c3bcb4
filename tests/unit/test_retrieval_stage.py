"""The retrieval stages on their own, with Pipecat's processor test harness."""

from __future__ import annotations

from pipecat.frames.frames import LLMContextFrame, TranscriptionFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.tests.utils import run_test

from voicebot.context_notes import KNOWLEDGE_HEADER
from voicebot.knowledge import Retrieval, RetrievalRecord
from voicebot.testing import FakeRetriever


def transcript(text: str) -> TranscriptionFrame:
    return TranscriptionFrame(text, user_id="caller", timestamp="")


async def test_the_context_frame_passes_with_the_passage_before_the_users_words() -> None:
    run = Retrieval(FakeRetriever({"hours": "We open at nine."})).for_session()
    context = LLMContext([{"role": "user", "content": "What are your hours?"}])
    down, _ = await run_test(
        Pipeline([run.starter(), run.injector()]),
        frames_to_send=[transcript("What are your hours?"), LLMContextFrame(context)],
        expected_down_frames=[TranscriptionFrame, LLMContextFrame],
    )
    assert down[-1].context.get_messages() == [
        {"role": "developer", "content": f"{KNOWLEDGE_HEADER}\n- We open at nine."},
        {"role": "user", "content": "What are your hours?"},
    ]
    (record,) = run.records
    assert record.in_time and record.sources == ["hours"]


async def test_a_failure_inside_the_stage_still_lets_the_turn_through() -> None:
    def broken(_record: RetrievalRecord) -> None:
        raise RuntimeError("turn log exploded")

    run = Retrieval(FakeRetriever({"hours": "We open at nine."})).for_session(broken)
    context = LLMContext([{"role": "user", "content": "What are your hours?"}])
    down, _ = await run_test(
        Pipeline([run.starter(), run.injector()]),
        frames_to_send=[transcript("What are your hours?"), LLMContextFrame(context)],
        expected_down_frames=[TranscriptionFrame, LLMContextFrame],
    )
    assert down[-1].context is context  # the reply goes ahead
