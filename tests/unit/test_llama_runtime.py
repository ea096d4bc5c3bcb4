"""The offline LLM's runtime: a portable llama.cpp build, a clear error instead of SIGILL,
packaged models joined and verified, tool results given to the model as facts."""

from __future__ import annotations

import hashlib
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from voicebot.errors import ConfigError, MissingExtraError
from voicebot.providers.local import llama_runtime as rt
from voicebot.providers.local.model_parts import SplitModel

AMX_INFO = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | "
    "AVX512 = 1 | AVX512_VNNI = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |"
)


def test_system_info_is_parsed_into_enabled_features() -> None:
    features = rt.parse_system_info(AMX_INFO)
    assert {"AVX2", "AVX512", "AMX_INT8", "REPACK"} <= features
    assert rt.parse_system_info("CPU : AVX = 0 | AVX2 = 1 |") == {"AVX2"}


def test_a_build_using_what_the_cpu_lacks_is_named() -> None:
    flags = {"pni", "ssse3", "avx", "avx2", "f16c", "fma", "bmi2"}
    assert rt.missing_features(rt.parse_system_info(AMX_INFO), flags) == [
        "AMX_INT8",
        "AVX512",
        "AVX512_VNNI",
    ]


def test_features_past_avx2_call_for_a_trial_run() -> None:
    assert rt.beyond_portable(rt.parse_system_info(AMX_INFO)) == [
        "AMX_INT8",
        "AVX512",
        "AVX512_VNNI",
    ]
    assert rt.beyond_portable({"AVX2", "FMA", "F16C", "LLAMAFILE"}) == []


def test_a_trial_run_killed_by_sigill_is_a_clear_error_and_the_parent_lives() -> None:
    die = "import os, signal; os.kill(os.getpid(), signal.SIGILL)"
    with pytest.raises(ConfigError, match=r"SIGILL.*rebuild it portably"):
        rt.trial_run([sys.executable, "-c", die], "llama.cpp (AMX_INT8)")


def test_a_trial_run_that_fails_otherwise_says_how() -> None:
    with pytest.raises(ConfigError, match=r"exit 3.*boom"):
        rt.trial_run(
            [sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"], "x"
        )
    rt.trial_run([sys.executable, "-c", "pass"], "x")  # a good run passes silently


def test_cpu_flags_come_from_proc_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_tile\n")
    assert rt.cpu_flags(info) == {"fpu", "avx2", "amx_tile"}
    assert rt.cpu_flags(tmp_path / "missing") is None


# ---- the installed build ------------------------------------------------------------------


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 build flags")
def test_the_installed_llama_cpp_build_is_portable() -> None:
    """The build `make` installs runs on any AVX2 CPU: no AVX-512, no AMX kernels."""
    pytest.importorskip("llama_cpp")
    features = rt.build_features()
    assert "AVX2" in features
    assert rt.beyond_portable(features) == [], f"not portable: {sorted(features)}"


@pytest.mark.skipif(
    platform.machine() != "x86_64" or shutil.which("objdump") is None,
    reason="x86-64 and objdump",
)
def test_the_installed_llama_cpp_libraries_hold_no_avx512_or_amx_instructions() -> None:
    """Proof from the machine code itself: no zmm (AVX-512) or tmm (AMX) register is used."""
    llama_cpp = pytest.importorskip("llama_cpp")
    libs = sorted((Path(llama_cpp.__file__).parent / "lib").glob("lib*.so"))
    assert libs, "llama_cpp ships no shared libraries?"
    for lib in libs:
        asm = subprocess.run(
            ["objdump", "-d", "--no-show-raw-insn", str(lib)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "%zmm" not in asm and "%tmm" not in asm, f"{lib.name} uses AVX-512/AMX"


# ---- packaged models in parts ---------------------------------------------------------------


def fake_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunks: list[bytes]) -> SplitModel:
    site = tmp_path / "site"
    for i, chunk in enumerate(chunks, 1):
        data = site / f"fakepart{i}" / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("")
        (data / f"part{i:02d}.bin").write_bytes(chunk)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("VOICEBOT_CACHE_DIR", str(tmp_path / "cache"))
    return SplitModel(
        filename="m.gguf",
        packages=tuple(f"fakepart{i}" for i in range(1, len(chunks) + 1)),
        sha256=hashlib.sha256(b"".join(chunks)).hexdigest(),
        install="pip install fake",
    )


def test_parts_are_joined_once_in_order_and_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = fake_parts(tmp_path, monkeypatch, [b"abc", b"def", b"g"])
    path = model.path()
    assert path.read_bytes() == b"abcdefg"
    assert path.parent == tmp_path / "cache"
    mtime = path.stat().st_mtime_ns
    assert model.path() == path and path.stat().st_mtime_ns == mtime  # not joined again


def test_a_changed_part_is_refused_not_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = fake_parts(tmp_path, monkeypatch, [b"abc", b"def"])
    bad = SplitModel(model.filename, model.packages, "0" * 64, model.install)
    with pytest.raises(ConfigError, match="sha256"):
        bad.path()
    assert not (tmp_path / "cache" / "m.gguf").exists()


def test_a_joined_file_changed_on_disk_is_joined_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = fake_parts(tmp_path, monkeypatch, [b"abc", b"def"])
    path = model.path()
    path.write_bytes(b"tampered")
    assert model.path().read_bytes() == b"abcdef"


def test_a_missing_part_package_names_the_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = fake_parts(tmp_path, monkeypatch, [b"abc"])
    missing = SplitModel("m.gguf", (*model.packages, "no_such_part_pkg"), model.sha256, "pip x")
    with pytest.raises(MissingExtraError, match=r"no_such_part_pkg.*pip x"):
        missing.path()


# ---- what the small model is shown ----------------------------------------------------------


def test_a_tool_result_comes_as_a_fact_just_before_the_question() -> None:
    from pipecat.processors.aggregators.llm_context import LLMContext

    from voicebot.providers.local.chat_prompt import chat_messages

    context = LLMContext(
        messages=[
            {"role": "user", "content": "Are you open on Sunday?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "opening_hours", "arguments": '{"day": "sunday"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": '"closed"'},
        ]
    )
    messages = chat_messages(context, "Be brief.")
    assert [m["role"] for m in messages] == ["system", "system", "user"]
    note = messages[1]["content"]
    assert "opening_hours(day='sunday') is closed" in note
    assert '"closed"' not in note and "Never mention tools" in note
    assert messages[2]["content"] == "Are you open on Sunday?"


def test_a_dict_result_reads_as_words() -> None:
    from voicebot.providers.local.chat_prompt import tool_result_note

    note = tool_result_note("order_status()", '{"status": "shipped", "eta": "Thursday"}')
    assert "status shipped, eta Thursday" in note


def test_the_trial_child_runs_a_real_model_on_a_long_prompt() -> None:
    """The child the guard starts works on a real model (the fast profile's, for speed)."""
    pytest.importorskip("llama_cpp")
    from voicebot.providers.local.models import smollm2_gguf

    rt.trial_run([sys.executable, "-c", rt.TRIAL_CODE, str(smollm2_gguf())], "llama.cpp")


def test_two_starts_at_once_join_the_model_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from voicebot.providers.local import model_parts

    model = fake_parts(tmp_path, monkeypatch, [b"abc" * 1000, b"def" * 1000])
    joins: list[int] = []
    real_join = model_parts.SplitModel._join

    def counting_join(self: SplitModel, parts: list[Path], target: Path) -> None:
        joins.append(1)
        real_join(self, parts, target)

    monkeypatch.setattr(model_parts.SplitModel, "_join", counting_join)
    paths: list[Path] = []
    threads = [threading.Thread(target=lambda: paths.append(model.path())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(paths) == 4 and len(set(paths)) == 1
    assert joins == [1]
    assert paths[0].read_bytes() == b"abc" * 1000 + b"def" * 1000


def test_the_joined_model_is_readable_by_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import stat

    model = fake_parts(tmp_path, monkeypatch, [b"abc"])
    old = os.umask(0o022)
    try:
        mode = stat.S_IMODE(model.path().stat().st_mode)
    finally:
        os.umask(old)
    assert mode == 0o644


def test_an_unwritable_cache_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = fake_parts(tmp_path, monkeypatch, [b"abc"])
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    monkeypatch.setenv("VOICEBOT_CACHE_DIR", str(blocker / "models"))
    with pytest.raises(ConfigError, match="VOICEBOT_CACHE_DIR"):
        model.path()


def test_the_prompt_after_a_tool_turn_begins_with_the_tool_turns_prompt() -> None:
    """The note stays in front of its request on later turns, so llama.cpp's cache of the
    tool turn's prompt is reused (moved back after it, the next turn re-read ~100 tokens)."""
    from pipecat.processors.aggregators.llm_context import LLMContext

    from voicebot.providers.local.chat_prompt import chat_messages

    call = {"id": "c1", "type": "function", "function": {"name": "hours", "arguments": "{}"}}
    turn = [
        {"role": "assistant", "content": "Hello, how can I help?"},
        {"role": "user", "content": "Are you open on Sunday?"},
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": '"closed"'},
    ]
    answering = chat_messages(LLMContext(messages=turn), "Be brief.")
    later = [
        *turn,
        {"role": "assistant", "content": "We're closed on Sunday."},
        {"role": "user", "content": "Thanks, bye."},
    ]
    following = chat_messages(LLMContext(messages=later), "Be brief.")
    assert following[: len(answering)] == answering
    assert [m["role"] for m in following] == [
        "system", "assistant", "system", "user", "assistant", "user",
    ]  # fmt: skip


def test_the_filler_said_while_a_tool_ran_is_not_shown_to_the_small_model() -> None:
    """The tool caller's "One moment." sits between the request and its result in the
    context (as in ``make demo``'s call); shown it, the 0.5B answered the note as if its
    reply were over. The model sees the note and the request; the context keeps the filler,
    and a later turn's prompt still begins with the tool turn's."""
    from pipecat.processors.aggregators.llm_context import LLMContext

    from voicebot.providers.local.chat_prompt import chat_messages

    call = {"id": "c1", "type": "function", "function": {"name": "hours", "arguments": "{}"}}
    turn = [
        {"role": "assistant", "content": "Hello, how can I help?"},
        {"role": "user", "content": "Are you open on Sunday?"},
        {"role": "assistant", "content": "One moment."},
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": '"closed"'},
    ]
    context = LLMContext(messages=turn)
    answering = chat_messages(context, "Be brief.")
    assert [m["role"] for m in answering] == ["system", "assistant", "system", "user"]
    assert "One moment." not in str(answering)
    assert {"role": "assistant", "content": "One moment."} in context.get_messages()
    later = [
        *turn,
        {"role": "assistant", "content": "We're closed on Sunday."},
        {"role": "user", "content": "One moment, is that right?"},
    ]
    following = chat_messages(LLMContext(messages=later), "Be brief.")
    assert following[: len(answering)] == answering
    # Words said after the answer are the bot's reply, not a filler: kept.
    assert following[-2:] == [
        {"role": "assistant", "content": "We're closed on Sunday."},
        {"role": "user", "content": "One moment, is that right?"},
    ]
