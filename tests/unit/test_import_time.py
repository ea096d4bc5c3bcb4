"""``import voicebot`` and a spec-only ``Bot`` stay light: no Pipecat, numpy or vendor SDK.

A script that only builds or checks a spec (the CLI's ``check``, a test, a web app reading
its config) should not pay ~1 s for the voice stack. Each case runs in a fresh interpreter,
so modules an earlier test imported cannot hide a regression. The assertions are on which
modules were imported, never on time (a loaded CI machine makes any time bound unfair); the
time is printed for whoever runs ``pytest -s``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

#: Modules that mean the voice stack (or a model runtime) was loaded.
HEAVY = (
    "pipecat",
    "pipecat.services",
    "llama_cpp",
    "onnxruntime",
    "faster_whisper",
    "piper",
    "numpy",
    "loguru",
)


def _imported_after(code: str) -> tuple[set[str], float]:
    """The top-level and package modules loaded by ``code`` in a fresh interpreter."""
    probe = textwrap.dedent(
        """
        import json, sys, time
        t0 = time.perf_counter()
        {code}
        elapsed = time.perf_counter() - t0
        print(json.dumps({{"modules": sorted(sys.modules), "elapsed": elapsed}}))
        """
    ).format(code=textwrap.indent(textwrap.dedent(code), "").strip())
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return set(result["modules"]), float(result["elapsed"])


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in HEAVY if m in modules)


def test_import_voicebot_loads_no_heavy_module() -> None:
    modules, elapsed = _imported_after("import voicebot")
    print(f"import voicebot: {elapsed * 1000:.0f} ms, {len(modules)} modules")
    assert _heavy(modules) == []
    assert "voicebot.bot" not in modules  # even the spec waits until it is asked for


@pytest.mark.parametrize(
    "code",
    [
        "from voicebot import Bot, tool, ConfigError, BuildContext, registry",
        "from voicebot import DeepgramSTT, CartesiaTTS, DailyRoom, SileroVAD, SmartTurn",
        # A spec naming vendors, with a tool: no service is made, nor its module imported.
        # (``check()`` may import Pipecat: finding ``pipecat.services.x`` imports its parents.)
        """
        from typing import ClassVar

        from voicebot import Bot, LLMProvider, tool

        class MyLLM(LLMProvider):
            name: ClassVar[str] = "mine"

        @tool
        def hours(day: str) -> str:
            '''Opening hours on a day.'''
            return "9 to 5"

        bot = Bot(stt="deepgram", llm=MyLLM(), tts="cartesia", vad="silero", turn="silence",
                  transport="daily", tools=[hours])
        assert bot.stages()[0].describe() == "DailyRoom()"
        """,
    ],
)
def test_spec_imports_load_no_heavy_module(code: str) -> None:
    modules, elapsed = _imported_after(code)
    print(f"{code.strip().splitlines()[0]}: {elapsed * 1000:.0f} ms")
    assert _heavy(modules) == []


def test_lazy_exports_resolve_to_their_defining_module() -> None:
    """Every name in ``__all__`` is importable, and is the object its module defines."""
    import importlib

    import voicebot

    for name in voicebot.__all__:
        value = getattr(voicebot, name)
        module = voicebot._LAZY.get(name)
        if module is not None and name != "registry":
            assert value is getattr(importlib.import_module(module), name), name
    assert set(voicebot.__all__) <= set(dir(voicebot))


def test_unknown_attribute_is_an_attribute_error() -> None:
    import voicebot

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = voicebot.Nope  # type: ignore[attr-defined]
