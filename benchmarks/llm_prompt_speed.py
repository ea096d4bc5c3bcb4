"""The offline LLM's prompt speed and fidelity: the packaged GGUF against its Q8_0 re-encoding.

Why: every turn, llama.cpp evaluates the new part of the prompt (the caller's words, the
chat template around them) before the first token; on the 2-core test VM that was ~8 ms a
token for the packaged Qwen2.5-Coder-0.5B "Q4_K_M". ``voicebot/providers/local/gguf_requant.py``
re-encodes it as Q8_0, which llama.cpp's fast x86 kernels take.

Measured, per model file, in one process (the files alternate within each repetition):

- prompt evaluation: ``Llama.eval`` of 1, 5, 12 and 24 new tokens after a 200-token cached
  prefix (1 generation thread, 2 for the prompt, as ``LlamaLLM`` loads it); median of 5;
- fidelity against the packaged file: over the first ~700 tokens of README.md, how often
  the most likely next token is the same, the mean KL divergence of the next-token
  distributions (nats), and the mean per-token loss of each.

Expected (written before this script, from a first manual run): Q8_0 ~1.8x faster on a 24-token
prompt, top-1 agreement > 95 %, KL < 0.01; Q4_0 (``--also-q4_0``) faster still but clearly
less faithful.

    python benchmarks/llm_prompt_speed.py
    python benchmarks/llm_prompt_speed.py --profile quality   # the 1.5B (not re-encoded)
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = (1, 5, 12, 24)


def requantize(source: Path, ftype: int, out: Path) -> Path:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True
    params.nthread = 2
    if llama_cpp.llama_model_quantize(
        str(source).encode(), str(out).encode(), ctypes.byref(params)
    ):
        raise SystemExit(f"llama.cpp could not re-encode {source}")
    return out


def speed(path: Path, reps: int) -> dict[str, float]:
    from llama_cpp import Llama

    llama = Llama(str(path), n_ctx=1024, n_threads=1, n_threads_batch=2, verbose=False)
    prefix = llama.tokenize(b"You are a friendly receptionist on the phone. " * 20)[:200]
    words = b" so what time do you open on saturday and do i need to book ahead for two people"
    new = llama.tokenize(words * 2, add_bos=False)
    llama.eval(prefix)
    out: dict[str, float] = {}
    for n in SIZES:
        times = []
        for _ in range(reps):
            llama.n_tokens = len(prefix)  # back to the cached prefix
            t = time.perf_counter()
            llama.eval(new[:n])
            times.append(time.perf_counter() - t)
        out[f"eval_{n}_tokens_ms"] = 1000 * float(np.median(times))
    llama.close()
    return out


def next_token_logits(path: Path, text: bytes) -> tuple[np.ndarray, list[int]]:
    from llama_cpp import Llama

    llama = Llama(str(path), n_ctx=1024, n_threads=2, logits_all=True, verbose=False)
    tokens = llama.tokenize(text)[:700]
    llama.eval(tokens)
    scores = np.array(llama.scores[: len(tokens)])
    llama.close()
    return scores, tokens


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def fidelity(base: Path, other: Path) -> dict[str, float]:
    text = (ROOT / "README.md").read_bytes()
    a, tokens = next_token_logits(base, text)
    b, _ = next_token_logits(other, text)
    la, lb = log_softmax(a), log_softmax(b)
    kl = (np.exp(la) * (la - lb)).sum(axis=1)
    nxt = np.array(tokens[1:])
    rows = np.arange(len(tokens) - 1)
    return {
        "tokens": len(tokens),
        "top1_agreement": float((a.argmax(1) == b.argmax(1)).mean()),
        "kl_mean_nats": float(kl.mean()),
        "kl_p99_nats": float(np.percentile(kl, 99)),
        "loss_packaged": float(-la[rows, nxt].mean()),
        "loss_this": float(-lb[rows, nxt].mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="balanced", choices=["balanced", "quality"])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--also-q4_0", action="store_true")
    parser.add_argument("--name", default=None)
    args = parser.parse_args()

    import llama_cpp

    from voicebot.providers.local.models import QWEN_05B, QWEN_15B

    packaged = (QWEN_05B if args.profile == "balanced" else QWEN_15B).path()
    tmp = Path(tempfile.mkdtemp(prefix="llm-prompt-speed-"))
    files = {"packaged": packaged, "q8_0": requantize(packaged, 7, tmp / "q8_0.gguf")}
    if args.also_q4_0:
        files["q4_0"] = requantize(packaged, 2, tmp / "q4_0.gguf")
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in files}
    for _ in range(2):  # alternate the files so machine load hits each alike
        for k, path in files.items():
            runs[k].append(speed(path, args.reps))
    results: dict[str, Any] = {}
    for k, path in files.items():
        merged = {m: float(np.median([r[m] for r in runs[k]])) for m in runs[k][0]}
        results[k] = {"file_mb": path.stat().st_size / 1e6, **merged}
        if k != "packaged":
            results[k].update(fidelity(packaged, path))
    print(f"\n{args.profile}: {packaged.name}, llama-cpp-python {llama_cpp.__version__}")
    print("| file | MB | " + " | ".join(f"{n} new tokens" for n in SIZES) + " | top-1 agree | KL |")
    print("|---|---|" + "---|" * len(SIZES) + "---|---|")
    for k, r in results.items():
        cells = " | ".join(f"{r[f'eval_{n}_tokens_ms']:.0f} ms" for n in SIZES)
        agree = f"{r['top1_agreement']:.1%}" if "top1_agreement" in r else "-"
        kl = f"{r['kl_mean_nats']:.4f}" if "kl_mean_nats" in r else "-"
        print(f"| {k} | {r['file_mb']:.0f} | {cells} | {agree} | {kl} |")
    name = args.name or f"llm_prompt_speed_{args.profile}"
    out = ROOT / "benchmarks" / "results" / f"{name}.json"
    out.write_text(
        json.dumps(
            {
                "command": "python benchmarks/llm_prompt_speed.py " + " ".join(sys.argv[1:]),
                "config": {
                    "profile": args.profile,
                    "packaged": packaged.name,
                    "llama_cpp_python": llama_cpp.__version__,
                    "system_info": llama_cpp.llama_print_system_info().decode().strip(),
                    "n_threads": 1,
                    "n_threads_batch": 2,
                    "reps": args.reps,
                    "machine": platform.machine(),
                    "cpus": os.cpu_count(),
                    "load_avg_before": load_before,
                    "load_avg_after": os.getloadavg(),
                },
                "results": results,
            },
            indent=1,
        )
    )
    print(f"wrote {out.relative_to(ROOT)}")
    for path in tmp.iterdir():
        path.unlink()
    tmp.rmdir()


if __name__ == "__main__":
    main()
