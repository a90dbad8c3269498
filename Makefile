# Two commands matter: `make demo` and `make test`. Each installs what it needs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo serve test check lint format bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Start the Jira simulator, sync it into SQLite, and serve the API on :8000.
demo: $(STAMP)
	$(BIN)/pmbridge demo

serve: $(STAMP)
	$(BIN)/pmbridge serve

## Lint, type-check, and run the whole suite on SQLite and on PostgreSQL.
test: $(STAMP)
	$(BIN)/python scripts/check.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Benchmarks print their figures beside a baseline measured in the same run.
bench: $(STAMP)
	PYTHONPATH=. $(BIN)/python bench/sync_jira.py
	PYTHONPATH=. $(BIN)/python bench/sync_tools.py
	PYTHONPATH=. $(BIN)/python bench/rollups.py
	PYTHONPATH=. $(BIN)/python bench/webhooks.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
