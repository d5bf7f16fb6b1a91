# Two commands do everything on a fresh machine: `make demo` and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: demo test install install-dev system-deps bench lint clean

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Stamps make a second `make test` skip the install when pyproject.toml has not changed.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The system tools the tests use (bubblewrap for the sandbox, graphviz for SVG export).
# Installed only when running as root and missing; otherwise the tests that need them say so.
system-deps:
	@bash scripts/system-deps.sh

demo: install
	$(VENV)/bin/treesearch demo

test: install-dev system-deps
	$(PY) -m pytest -q

bench: install-dev system-deps
	$(PY) bench/core_bench.py --quick
	$(PY) bench/sandbox_bench.py --quick
	$(PY) bench/llm_concurrency_bench.py --quick

lint: install-dev
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) runs .pytest_cache
