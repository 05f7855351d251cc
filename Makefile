# Two entry points for a fresh machine (see README.md):
#   make demo   installs the add-on into .venv and runs it with a simulated wallbox
#   make test   installs everything the tests need into .venv and runs the whole suite

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

demo: $(BIN)/python
	$(BIN)/pip install --quiet -e bmw_wallbox_addon
	$(BIN)/bmw-wallbox --demo

test: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-test.txt -e bmw_wallbox_addon
	$(BIN)/python -m pytest

lint: $(BIN)/python
	$(BIN)/pip install --quiet ruff mypy types-PyYAML
	$(BIN)/ruff check .
	$(BIN)/mypy
