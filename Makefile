# matsight: `make demo` and `make test` set everything up (idempotently) and run.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha1sum | cut -c1-12)
# one pytest-xdist worker per core; a file's tests stay on one worker (module fixtures are built once)
PYTEST_ARGS ?= -n auto --dist loadfile

.PHONY: setup demo test lint frontend clean

setup: $(STAMP) frontend

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-compile -r requirements.lock
	@# byte-compile on every core (pip compiles one file at a time: about a minute of the setup); a few packages
	@# ship deliberately broken test files, which fail to compile harmlessly
	-$(PY) -m compileall -q -j 0 $(VENV)/lib > /dev/null 2>&1
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*
	touch $@

# The app's static front end (TypeScript + Vite); rebuilt only when its sources change.
frontend: $(STAMP)
	bash scripts/build_frontend.sh

demo: setup
	$(VENV)/bin/matsight demo

test: setup lint
	bash scripts/setup_browser.sh
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) demo-runs .pytest_cache
