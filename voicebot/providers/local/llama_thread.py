"""Where the in-process model runs: always on one thread, and stopped without the GIL.

How voicebot calls llama.cpp, measured on the prompt's evaluation, which sits before the
first token of every reply (``python benchmarks/llama_threading.py``: 20 new tokens after a
240-token cached prefix on the 2-core VM, the variants interleaved; results in
``benchmarks/results/llama_threading.json``):

- **An abort check through the GIL.** ``abort_when`` lets a cancelled call stop a long
  prompt mid-evaluation (llama.cpp asks a callback at every graph node). A Python callback
  takes the GIL at each node: free on an idle machine, but beside a Python thread that
  keeps the GIL busy, 2494 ms against 235 ms with no check. ``AbortFlag`` is read by C
  code instead: libc's ``strlen`` over a two-byte buffer (``"\\0"``: go on; ``"\\1"``:
  stop), called with the buffer as its argument, so the check never enters Python (250 ms
  beside the busy thread). Where libc cannot be found, the Python callback is used.
- **Which thread calls.** llama-cpp-python's wheel runs ggml on OpenMP, whose worker team
  belongs to the calling thread. The prompt measurement above found no difference between
  one calling thread, four in turn, or a new one each time; but every variant there had
  more than one team. Measured on 2026-12-04 (``benchmarks/llama_first_clause.py``): once
  a second thread has evaluated any model of the process, the process holds more OpenMP
  threads than cores, libgomp stops spinning between steps, and two threads write a token
  no faster than one (57 against 38 ms; one thread: 64 ms). So every evaluation of every
  model in the process, from its warm-up on, runs on one thread: ``model_thread()``. It
  also keeps order (a queued reply does not hold one of the default executor's few
  threads, 6 on 2 cores, that other ``to_thread`` work needs). Two models in a process
  (a cascade) take turns on it, as they would for the two cores anyway.

In the offline pipeline (``benchmarks/offline_latency.py``) neither moved the LLM stage
beyond run-to-run noise: its event loop leaves the GIL free most of the time.
"""

from __future__ import annotations

import asyncio
import contextvars
import ctypes
import ctypes.util
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


@cache
def _strlen() -> Any:
    """libc's ``strlen`` as a ggml abort callback (``bool (*)(void *)``), or None."""
    import llama_cpp

    address = None
    # The process's own symbols first (0.1 ms); find_library runs ``ldconfig -p`` (~2 ms).
    for library in (lambda: None, lambda: ctypes.util.find_library("c")):
        try:
            address = ctypes.cast(ctypes.CDLL(library()).strlen, ctypes.c_void_p).value
            break
        except (OSError, AttributeError, TypeError):
            continue
    if address is None:
        return None
    # A length of 0 or 1 in the return register reads as false or true: the callback's
    # bool is the register's low byte on x86-64 and arm64 alike.
    return llama_cpp.ggml_abort_callback(address)


class AbortFlag:
    """A stop flag that llama.cpp's abort check reads without Python (see the module)."""

    def __init__(self) -> None:
        self._buffer = ctypes.create_string_buffer(2)  # b"\0\0": not set
        self._event = threading.Event()

    def set(self) -> None:
        self._buffer[0] = b"\x01"
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def callback(self) -> tuple[Any, Any]:
        """(callback, data) for ``llama_set_abort_callback``."""
        import llama_cpp

        native = _strlen()
        if native is not None:
            return native, ctypes.cast(self._buffer, ctypes.c_void_p)
        return llama_cpp.ggml_abort_callback(lambda _data: self._event.is_set()), None


@contextmanager
def abort_when(llama: Any, stop: AbortFlag) -> Iterator[None]:
    """While in this block, ``stop`` aborts llama.cpp mid-computation (``llama_decode``).

    Generation checks ``stop`` between tokens, but a long prompt is evaluated in one go:
    measured on the 2-core VM, a session cancelled during a ~600-token prompt left its thread
    busy (and the shared model locked) for 14.5 s; with this, 0.05 s. The aborted call raises
    in the thread; llama-cpp-python drops the partial batch from the KV cache on its next
    evaluation. For the prompt only: even without the GIL, the check runs at every graph
    node (~550 per evaluated batch)."""
    import llama_cpp

    callback, data = stop.callback()
    llama_cpp.llama_set_abort_callback(llama.ctx, callback, data)
    try:
        yield
    finally:  # the model is shared: the next session's generation has no stop of ours
        llama_cpp.llama_set_abort_callback(llama.ctx, llama_cpp.ggml_abort_callback(), None)


@cache
def model_thread() -> LlamaThread:
    """The one thread every llama.cpp model of this process is evaluated on (see above)."""
    return LlamaThread()


class LlamaThread:
    """The one thread a loaded model is evaluated on (see the module docstring)."""

    def __init__(self, name: str = "llama") -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._worker: int | None = None  # the worker's thread id, once it ran something

    def run(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        """``fn`` on the model's thread, awaitable from the running loop; it sees the
        caller's context variables (the call id in log lines), as ``asyncio.to_thread``."""
        return asyncio.get_running_loop().run_in_executor(self._executor, self._in_context(fn))

    def call(self, fn: Callable[[], T]) -> T:
        """``fn`` on the model's thread, waited for (from a thread that is not the model's
        and runs no event loop)."""
        if threading.get_ident() == self._worker:
            return fn()  # already on it: waiting for itself would never end
        return self.submit(fn).result()

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """``fn`` on the model's thread, not waited for (from any thread, loop or none)."""
        return self._executor.submit(self._in_context(fn))

    def _in_context(self, fn: Callable[[], T]) -> Callable[[], T]:
        """``fn`` to run on the worker in the caller's context variables (taken now), noting
        the worker's id so that ``call`` from the worker itself runs inline."""
        context = contextvars.copy_context()

        def run() -> T:
            self._worker = threading.get_ident()
            return context.run(fn)

        return run

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
