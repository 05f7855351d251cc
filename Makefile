# Two entry points for a fresh machine (see README.md):
#   make demo   installs the add-on into .venv and runs it with a simulated wallbox
#   make test   installs everything the tests need into .venv and runs the whole suite
#               (including the 24-simulated-hour soak, about 30 s)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint browser broker

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

demo: $(BIN)/python
	$(BIN)/pip install --quiet -e bmw_wallbox_addon
	$(BIN)/bmw-wallbox --demo

# The panel's browser tests drive Debian's Chromium; Home Assistant Core is installed by the tests
# themselves (into a cached venv, see tests/ha_install.py, with its MQTT integration's requirement).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

# The MQTT tests start Debian's Mosquitto broker themselves (see tests/mosquitto.py).
broker:
	@if ! command -v mosquitto >/dev/null || ! command -v mosquitto_passwd >/dev/null; then \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq mosquitto >/dev/null; \
	fi

test: $(BIN)/python browser broker
	$(BIN)/pip install --quiet -r requirements-test.txt -e bmw_wallbox_addon
	BMW_WALLBOX_SLOW=1 $(BIN)/python -m pytest

lint: $(BIN)/python
	$(BIN)/pip install --quiet ruff mypy types-PyYAML
	$(BIN)/ruff check .
	$(BIN)/mypy
