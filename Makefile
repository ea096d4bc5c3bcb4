# Two entry points for a fresh machine: `make demo` and `make test`. Each creates .venv and
# installs what it needs first (pip only; no network beyond the package registries).

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test lint unit contract clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

## A voice-to-voice conversation from a recorded caller; prints transcript and per-turn timings.
demo: $(STAMP)
	$(BIN)/voicebot run examples/fake_bot.py \
		--input examples/audio/two_turns.wav --output out/demo_reply.wav --turns out/demo_turns.jsonl

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

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
