# Two commands do everything on a fresh machine: `make demo` and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: demo test install install-dev install-local local-model system-deps sandbox-deps bench lint clean

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Stamps make a second `make test` skip the install when pyproject.toml has not changed.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-local: pyproject.toml | $(PY)
	$(PIP) install -q -e '.[local]'
	touch $@ $(VENV)/.installed

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) install -q -e '.[dev]'
	touch $@ $(VENV)/.installed $(VENV)/.installed-local

install: $(VENV)/.installed
install-local: $(VENV)/.installed-local
install-dev: $(VENV)/.installed-dev

# The system tools the tests use (bubblewrap for the sandbox, graphviz for SVG export, chromium for
# the viewer's browser tests). Installed only when running as root and missing; otherwise the tests
# that need them say so.
system-deps:
	@bash scripts/system-deps.sh

# The sandbox alone: model-written code runs only isolated (bubblewrap).
sandbox-deps:
	@bash scripts/system-deps.sh sandbox

# The local model: llama-server built once and the 0.5B weights fetched once, into ~/.cache/treesearch
# (a no-op when both are there).
local-model:
	$(VENV)/bin/treesearch local setup

# DEMO_ARGS: more options for the demo, e.g. DEMO_ARGS="--model sim" or, where bubblewrap cannot run,
# DEMO_ARGS="--sandbox unsafe-rlimit" (see README.md, "The sandbox").
DEMO_ARGS ?=
demo: install-local sandbox-deps local-model
	$(VENV)/bin/treesearch demo $(DEMO_ARGS)

test: install-dev system-deps local-model
	$(PY) -m pytest -q

bench: install-dev system-deps
	$(PY) bench/core_bench.py --quick
	$(PY) bench/sandbox_bench.py --quick
	$(PY) bench/llm_concurrency_bench.py --quick

lint: install-dev
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) runs .pytest_cache
