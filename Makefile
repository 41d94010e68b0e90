# Tuneloop: `make run` serves the app on embedded defaults; `make test` runs every test; `make bench` measures.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
TORCH_VERSION ?= 2.13.0

.PHONY: run test bench lint install frontend clean reliability

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch first, pinned to the CPU build the machine provides, so the extras do not pull CUDA wheels.
$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q "torch==$(TORCH_VERSION)"
	$(PIP) install -q -e ".[train,dev]"
	touch $(STAMP)

install: $(STAMP) frontend

frontend: app/static/vendor/htmx.min.js

app/static/vendor/htmx.min.js: package.json scripts/vendor_frontend.sh
	bash scripts/vendor_frontend.sh

run: install
	mkdir -p var
	$(VENV)/bin/tuneloop serve --host 127.0.0.1 --port $${PORT:-8000}

test: install
	$(VENV)/bin/ruff check app worker tests migrations/env.py
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest -n 2 --dist loadgroup -p no:cacheprovider --timeout 600 $(PYTEST_ARGS)

# The reliability suite's long variants: many more fuzzing and hostile-input examples, a bigger queue to lose.
reliability: install
	TUNELOOP_FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200} TUNELOOP_HOSTILE_EXAMPLES=$${HOSTILE_EXAMPLES:-1000} \
	TUNELOOP_FAULT_PINGS=$${FAULT_PINGS:-500} \
	TUNELOOP_LOAD_CLIENTS=$${LOAD_CLIENTS:-16} TUNELOOP_LOAD_BATCHES=$${LOAD_BATCHES:-40} \
	TUNELOOP_SOAK_SECONDS=$${SOAK_SECONDS:-300} \
	$(VENV)/bin/pytest -n 2 --dist loadgroup -p no:cacheprovider --timeout 7200 tests/reliability $(PYTEST_ARGS)

bench: install
	$(PY) -m benchmarks $(BENCH_ARGS)

lint: install
	$(VENV)/bin/ruff check app worker tests migrations/env.py

clean:
	rm -rf $(VENV) node_modules app/static/vendor
