# Two entry points for a fresh machine with only Python 3.11: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test parity lint typecheck clean

install: $(STAMP)

# Reinstalls only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,ray,mlflow,jax]'
	touch $(STAMP)

run: install
	$(BIN)/fwcompare run

test: install
	$(BIN)/python -m pytest

parity: install
	$(BIN)/fwcompare parity

# Style, formatting and the architecture (the import-linter contracts in pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# The typed packages are listed in pyproject.toml ([tool.mypy] files).
typecheck: install
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info
