"""A packaged GGUF re-encoded once as Q8_0, because this CPU reads prompts faster that way.

The caller's words reach the offline LLM as a prompt that llama.cpp evaluates before the
first token, on the critical path of every turn. The packaged Qwen2.5-Coder-0.5B is
"Q4_K_M", but a row of 896 does not fit K-quant blocks (256), so most of its matrices were
stored in fallback formats; which of llama.cpp's x86 kernels each format meets was not
traced, the effect was measured. Re-encoded as Q8_0, prompts evaluate ~20 % faster on the
2-core test VM (24 new tokens: 150 -> 121 ms idle, 175 -> 140 ms after other benchmarks; 12:
88 -> 75 ms), one generated token takes about as long (22-32 ms), and it is the same model:
over 700 tokens of text its next-token choice agreed with the packaged file's at 96.3 % of
positions, mean KL divergence 0.0018 nats (Q4_0 instead: 80.4 %, 0.105). The 1.5B model
gains nothing this way (a first manual try: its prompts got ~15 % slower) and is loaded as
shipped. Measured with ``benchmarks/llm_prompt_speed.py``.

The re-encoded file lives beside the joined one in the model cache, made once (~5 s) under
a lock, atomically; a sidecar records the source's sha256 and the llama.cpp version that
wrote it, so a new source or a llama-cpp-python upgrade makes it again.
"""

from __future__ import annotations

import ctypes
import json
import os
import tempfile
import time
from pathlib import Path

from loguru import logger

from voicebot.errors import ConfigError
from voicebot.providers.local.model_parts import locked, readable_mode

#: llama.cpp's ``LLAMA_FTYPE_MOSTLY_Q8_0``.
Q8_0 = 7


def q8_0_path(source: Path, source_sha256: str) -> Path:
    """``source`` (a verified GGUF) re-encoded as Q8_0 beside it, made the first time; the
    source itself (with a warning) if that cannot be done: slower prompts, the same model."""
    import llama_cpp

    target = source.with_name(f"{source.stem}.q8_0.gguf")
    stamp = {"source_sha256": source_sha256, "llama_cpp": llama_cpp.__version__}
    if _current(target, stamp):
        return target
    try:
        with locked(target.with_name(f".{target.name}.lock")):
            if not _current(target, stamp):
                for stale in target.parent.glob(f".{target.name}.*.part"):
                    stale.unlink(missing_ok=True)  # left by a process killed mid-way
                _requantize(source, target, llama_cpp)
                _write_sidecar(target, stamp)
    except (OSError, ConfigError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        logger.warning(
            f"loading {source.name} as shipped, not re-encoded as Q8_0 ({reason}); prompts "
            f"are ~20 % slower. Check that {target.parent} is writable with ~0.7 GB free."
        )
        return source
    return target


def _requantize(source: Path, target: Path, llama_cpp: object) -> None:
    lib = llama_cpp
    logger.info(f"re-encoding {source.name} as Q8_0 for faster prompts (once, ~5 s)")
    start = time.perf_counter()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        params = lib.llama_model_quantize_default_params()  # type: ignore[attr-defined]
        params.ftype = Q8_0
        params.allow_requantize = True
        params.nthread = min(4, os.cpu_count() or 1)
        code = lib.llama_model_quantize(  # type: ignore[attr-defined]
            str(source).encode(), str(tmp).encode(), ctypes.byref(params)
        )
        if code != 0:
            raise ConfigError(
                f"llama.cpp could not re-encode {source} as Q8_0 (code {code}); load the "
                "file as shipped with LlamaLLM(model_path=...)"
            )
        tmp.chmod(readable_mode())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info(f"re-encoded {target.name} in {time.perf_counter() - start:.1f}s")


def _sidecar(target: Path) -> Path:
    return target.with_name(target.name + ".made.json")


def _current(target: Path, stamp: dict[str, str]) -> bool:
    """True if ``target`` was made from this source by this llama.cpp and is unchanged."""
    try:
        seen = json.loads(_sidecar(target).read_text())
        st = target.stat()
    except (OSError, ValueError):
        return False
    return bool(seen == {**stamp, "size": st.st_size, "mtime_ns": st.st_mtime_ns})


def _write_sidecar(target: Path, stamp: dict[str, str]) -> None:
    st = target.stat()
    sidecar = _sidecar(target)
    tmp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}")
    tmp.write_text(json.dumps({**stamp, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))
    os.replace(tmp, sidecar)
