# mesos-adapter: the two README commands and their building blocks.
#
#   make test   install everything into .venv (and a real Consul for the
#               conformance tests), then format check, lint, types, tests
#   make demo   install everything, then run the main job on the local cluster
#   make bench  install everything, then run benchmarks/ into benchmarks/results.json
#
# PYTHON picks the interpreter for a new .venv (3.11 or newer).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WHEELS := $(VENV)/wheels
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install test lint typecheck pytest demo bench system-deps check-vagrant clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "mesos-adapter needs Python 3.11 or newer (set PYTHON=python3.11)"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# http-parser (a pymesos dependency) is built as a pure-Python wheel from its sdist
# first; its own setup.py does not run on Python 3.11+. See tools/.
$(STAMP): $(BIN)/python pyproject.toml tools/build_http_parser_wheel.py
	$(BIN)/python tools/build_http_parser_wheel.py --dest $(WHEELS)
	$(BIN)/python -m pip install --quiet $(WHEELS)/http_parser-0.9.0-py3-none-any.whl
	$(BIN)/python -m pip install --quiet --find-links $(WHEELS) -e '.[dev]'
	touch $(STAMP)

# A real Consul (1.8.7, from Debian's or Ubuntu's package) that the local Consul's
# conformance tests also run against; without it those runs skip. See tools/.
$(BIN)/consul: tools/install_consul.py | $(BIN)/python
	$(BIN)/python tools/install_consul.py --dest $@

install: $(STAMP)

# ZooKeeper for the master-detection tests: installed from Debian's packages when
# we are root on a Debian-like machine; otherwise those tests skip with the reason.
system-deps:
	@./tools/system-deps.sh

# Static checks of vagrant/: shellcheck on the scripts, vagrant validate.
check-vagrant: system-deps
	@./tools/check-vagrant.sh

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

pytest: install system-deps $(BIN)/consul
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

demo: install
	$(BIN)/mesos-adapter dev demo

bench: install $(BIN)/consul
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
