# Every target creates .venv and installs the project on first use: the dependencies are copied
# from a venv cached outside the clone (scripts/dev-venv.sh; STAMPEDE_DEV_VENV_CACHE=off: pip).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMPEDE := $(VENV)/bin/stampede
PYTEST_ARGS ?=
# Three workers, a test file each at a time (a file's shared storms stay in one worker).
PYTEST_WORKERS ?= -n 3 --dist loadfile
# The suite runs under its own plugin's checks (pyproject's [tool.stampede.pytest] allow-lists
# what is left behind on purpose); PYTEST_CHECKS=--no-stampede turns them off.
PYTEST_CHECKS ?= --stampede

.PHONY: demo test test-tools stack-test lint format serve bench plan clean

$(VENV)/.installed: pyproject.toml
	@scripts/ensure-tools.sh python
	scripts/dev-venv.sh $(VENV)
	# Bytecode for the project's own modules: where PYTHONDONTWRITEBYTECODE is set (CI images
	# often set it) every server, Locust and CLI process would compile them again.
	$(PY) -m compileall -q -j 0 stampede server loadtest examples > /dev/null
	touch $@

demo: $(VENV)/.installed  ## storm both waiters in capped servers; report in results/latest
	$(STAMPEDE) compare

# Debian's prometheus package first (apt-get as root or via sudo, else one line saying what to
# run): the container tests run promtool and prometheus for real and are never skipped. The
# stack test needs a container engine: podman (installed here) or a running Docker.
test-tools:
	@scripts/ensure-tools.sh prometheus engine

test: test-tools $(VENV)/.installed  ## tools, lint, format check, import layers and the whole test suite
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest $(PYTEST_WORKERS) $(PYTEST_CHECKS) $(PYTEST_ARGS)

# The compose stack under a real engine, storm included (also part of `make test`); -s prints
# each step's time and the storm's figures.
stack-test: test-tools $(VENV)/.installed  ## docker compose up for real: build, up, storm, dashboards, down -v
	$(PY) -m pytest -s tests/container/test_stack.py

lint: $(VENV)/.installed  ## ruff, and the import-linter contracts (pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

serve: $(VENV)/.installed  ## one server on 127.0.0.1:8000 (STAMPEDE_* env vars apply)
	$(STAMPEDE) serve

bench: $(VENV)/.installed  ## what a waiting duplicate costs, per waiter
	$(STAMPEDE) bench waiters

plan: $(VENV)/.installed  ## capacity plan: wedge threshold per host shape
	$(STAMPEDE) plan

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
