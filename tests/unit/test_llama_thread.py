"""The in-process model's thread and its GIL-free abort flag (``llama_thread``)."""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading

import pytest

from voicebot.providers.local import llama_thread
from voicebot.providers.local.llama_thread import AbortFlag, LlamaThread

pytest.importorskip("llama_cpp")


def test_the_abort_check_is_native_code_reading_the_flag_not_python() -> None:
    if not sys.platform.startswith("linux") and llama_thread._strlen() is None:
        pytest.skip(f"no libc strlen on {sys.platform}: the Python check is used")
    flag = AbortFlag()
    callback, data = flag.callback()
    assert data is not None, "no libc strlen found: the abort check would take the GIL"
    assert callback(data) is False  # llama.cpp goes on
    flag.set()
    assert callback(data) is True  # llama.cpp stops at its next graph node
    assert flag.is_set()


def test_without_libc_the_check_falls_back_to_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llama_thread, "_strlen", lambda: None)
    flag = AbortFlag()
    callback, data = flag.callback()
    assert data is None
    assert callback(None) is False
    flag.set()
    assert callback(None) is True


CALL_ID: contextvars.ContextVar[str] = contextvars.ContextVar("call_id", default="")


async def test_a_call_on_the_model_thread_sees_the_callers_context() -> None:
    """The call id that log lines carry (``logger.contextualize``), as with to_thread."""
    thread = LlamaThread()
    try:
        CALL_ID.set("call-1")
        assert await thread.run(CALL_ID.get) == "call-1"
        CALL_ID.set("call-2")
        assert await thread.run(CALL_ID.get) == "call-2"
    finally:
        thread.shutdown()


async def test_every_call_runs_on_the_same_one_thread() -> None:
    """ggml's OpenMP team belongs to the calling thread: a new thread per call was slower."""
    thread = LlamaThread()
    try:
        ids = [await thread.run(threading.get_ident) for _ in range(5)]
        assert len(set(ids)) == 1
        assert ids[0] != threading.get_ident()  # never the event loop's
        order: list[int] = []
        slow = thread.run(lambda: (threading.Event().wait(0.05), order.append(1)))
        fast = thread.run(lambda: order.append(2))
        await asyncio.gather(slow, fast)
        assert order == [1, 2]  # one at a time, in order
    finally:
        thread.shutdown()


async def test_a_blocking_call_from_sync_code_and_from_the_thread_itself() -> None:
    """``call`` (loading, benchmarks) runs on the same thread as ``run``; asked from that
    thread itself it runs at once instead of waiting for itself forever."""
    thread = LlamaThread()
    try:
        where = await thread.run(threading.get_ident)
        assert await asyncio.to_thread(thread.call, threading.get_ident) == where
        nested = await thread.run(lambda: thread.call(threading.get_ident))
        assert nested == where
    finally:
        thread.shutdown()
