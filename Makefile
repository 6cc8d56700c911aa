# docker-credential-ecrpy: every target works on a fresh machine and sets up what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.deps-stamp

.PHONY: test lint demo bench install clean

# The virtualenv with the package's and the test tools' dependencies.
$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/pip install --quiet '.[dev]'
	@touch $@

# Install the working tree as users get it: a real (not editable) install, because an
# editable install puts an import hook on every start and skews the cache-hit path.
install: $(STAMP)
	rm -rf build  # setuptools reuses it: a module deleted from the tree would live on
	$(BIN)/pip install --quiet --no-deps --no-build-isolation --force-reinstall .

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

demo: install
	$(BIN)/python demo/demo.py

bench: install
	$(BIN)/python bench/bench.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
