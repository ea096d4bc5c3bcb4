"""Is this llama.cpp build safe to run on this CPU? A clear error instead of SIGILL.

A llama.cpp built natively on one machine carries that machine's instruction sets. Run
elsewhere, or in a VM that advertises a feature it does not enable (Intel AMX is the common
case: ``amx_tile`` in /proc/cpuinfo, tile instructions fault), it dies with ``Illegal
instruction`` on the first token, with no hint. ``make`` builds a portable wheel (AVX2 and
nothing newer on x86-64); a user's own build may not be. So before the model loads:

- the build's features (``llama_print_system_info``) are compared with the CPU's flags; a
  feature the CPU lacks is a ``ConfigError`` naming the fix;
- a build with instruction sets past AVX2 (AVX-512, AMX) is first tried in a child process on
  one token: a child killed by SIGILL becomes a ``ConfigError`` too, and the parent lives.

``python -c "from voicebot.providers.local.llama_runtime import main; main()"`` prints the
verdict; ``make`` runs it.
"""

from __future__ import annotations

import platform
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from voicebot.errors import ConfigError

#: Features of a portable x86-64 build (``make``): what llama.cpp may use on any AVX2 CPU.
PORTABLE_X86 = frozenset({"SSE3", "SSSE3", "AVX", "AVX2", "F16C", "FMA", "BMI2"})

#: llama.cpp feature name -> /proc/cpuinfo flag that must be there for it to run.
CPU_FLAG = {
    "SSE3": "pni",
    "SSSE3": "ssse3",
    "AVX": "avx",
    "AVX2": "avx2",
    "F16C": "f16c",
    "FMA": "fma",
    "BMI2": "bmi2",
    "AVX_VNNI": "avx_vnni",
    "AVX512": "avx512f",
    "AVX512_VBMI": "avx512_vbmi",
    "AVX512_VNNI": "avx512_vnni",
    "AVX512_BF16": "avx512_bf16",
    "AMX_INT8": "amx_int8",
    "AMX_BF16": "amx_bf16",
    "AMX_TILE": "amx_tile",
}

REBUILD = (
    'rebuild it portably: `make clean && make test` in a voicebot checkout, or `CMAKE_ARGS="'
    "-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF "
    '-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF" pip install --no-cache-dir --force-reinstall '
    "--no-binary llama-cpp-python llama-cpp-python==0.3.36`"
)


def parse_system_info(info: str) -> set[str]:
    """The enabled features in ``llama_print_system_info()``'s ``NAME = 1 |`` list."""
    return {m.group(1) for m in re.finditer(r"\b([A-Z][A-Z0-9_]*) = 1\b", info)}


def build_features() -> set[str]:
    """The installed llama.cpp's enabled CPU features (imports ``llama_cpp``)."""
    import llama_cpp

    raw = llama_cpp.llama_print_system_info()
    return parse_system_info(raw.decode() if isinstance(raw, bytes) else str(raw))


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str] | None:
    """The CPU's advertised flags, or None where /proc/cpuinfo does not say (not Linux)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.partition(":")[2].split())
    return None


def missing_features(features: set[str], flags: set[str]) -> list[str]:
    """Build features whose CPU flag the CPU does not advertise: these would SIGILL."""
    return sorted(f for f in features if f in CPU_FLAG and CPU_FLAG[f] not in flags)


def beyond_portable(features: set[str]) -> list[str]:
    """x86 features past the portable AVX2 set (AVX-512, AMX...): worth a trial run."""
    return sorted(f for f in features if f in CPU_FLAG and f not in PORTABLE_X86)


def trial_run(command: Sequence[str], what: str, timeout: float = 120.0) -> None:
    """Run ``command``; a child killed by SIGILL (or failing) is a ``ConfigError``."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise ConfigError(f"{what}: a one-token trial run did not finish in {timeout:.0f}s") from e
    if done.returncode == -signal.SIGILL:
        raise ConfigError(
            f"{what} died with SIGILL (illegal instruction): this llama.cpp build uses CPU "
            f"instructions this machine advertises but does not run; {REBUILD}"
        )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ConfigError(f"{what}: trial run failed (exit {done.returncode}): {tail[0]}")


@cache
def check_llama_runtime(model_path: str) -> None:
    """Raise a ``ConfigError`` if llama.cpp would crash on this CPU; once per process."""
    features = build_features()
    flags = cpu_flags()
    if flags is not None and platform.machine() in ("x86_64", "AMD64"):
        missing = missing_features(features, flags)
        if missing:
            raise ConfigError(
                f"llama-cpp-python was built for another CPU: it uses {', '.join(missing)}, "
                f"which this CPU does not have; {REBUILD}"
            )
        if beyond_portable(features):
            trial_run(
                [sys.executable, "-c", TRIAL_CODE, model_path],
                f"llama.cpp ({', '.join(beyond_portable(features))})",
            )


#: The child's work: a prompt of many tokens, because ggml's AMX kernels run only on
#: multi-row matrix products (a one-token prompt takes the AVX-512 VNNI path and passes).
TRIAL_CODE = (
    "import sys; from llama_cpp import Llama; "
    "m = Llama(sys.argv[1], n_ctx=512, n_threads=1, verbose=False); "
    "m.create_completion('Hello there. ' * 40, max_tokens=2)"
)


def main() -> int:
    """Print the build's features and whether it is portable; 1 if it is not."""
    features = build_features()
    flags = cpu_flags()
    print(f"llama.cpp build features: {' '.join(sorted(features)) or 'none'}")
    if platform.machine() in ("x86_64", "AMD64"):
        extra = beyond_portable(features)
        if extra:
            print(f"not portable: uses {', '.join(extra)}; {REBUILD}", file=sys.stderr)
            return 1
        if "AVX2" not in features:
            print("AVX2 is off in this build: it will be slow", file=sys.stderr)
        if flags is not None and missing_features(features, flags):
            print(f"this CPU lacks {', '.join(missing_features(features, flags))}", file=sys.stderr)
            return 1
    print("llama.cpp build: portable, safe on this CPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
