# Quick start: `make run` (serve the embedded default) and `make test` (the whole suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/lre-gateway init
	$(BIN)/lre-gateway demo
	$(BIN)/lre-gateway serve

test: $(STAMP) lint
	$(BIN)/lre-gateway init
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy gateway tests bench

bench: $(STAMP)
	$(BIN)/python -m bench.throughput --quick

clean:
	rm -rf $(VENV) var
