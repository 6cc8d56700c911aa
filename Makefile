# docker-credential-ecrpy: every target works on a fresh machine and sets up what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.deps-stamp

# The standalone binary (packaging/): its own venv with pinned build requirements.
BUILD_VENV  ?= .venv-build
BUILD_STAMP := $(BUILD_VENV)/.deps-stamp
# The release: its own venv with the pinned packaging tools (build, twine, cyclonedx-bom).
RELEASE_VENV  ?= .venv-release
RELEASE_STAMP := $(RELEASE_VENV)/.deps-stamp
VERSION     := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' docker_credential_ecrpy/__init__.py)
BINARY      := $(CURDIR)/dist/docker-credential-ecrpy-$(VERSION)-linux-$(shell uname -m)/docker-credential-ecrpy

# The demo and the benchmarks are scripts that import the shared test code (tests.support)
# from the repository root; they are given that root, and nothing else, on PYTHONPATH.
# The helper they run never inherits it: it must import the installed package, not this tree.
SCRIPT := PYTHONPATH=$(CURDIR) $(BIN)/python

.PHONY: test lint demo bench bench-fleet install clean binary test-binary bench-binary release \
	release-check

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

# The GitHub workflows too: against GitHub's schema, and audited by zizmor (actions pinned
# to a commit, least permissions, no credentials left in a checkout, no injection); offline.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/zizmor --offline --min-severity medium --no-progress .github/workflows

demo: install
	$(SCRIPT) demo/demo.py

# Whole-process medians against floors measured in the same run (`python -I -S -c pass`,
# `python -c pass`): the console script, the standalone binary and, when installed, the Go
# helper, with a slow .pth, one region's accounts and peak RSS; then the three in bad weather
# (ECRPY_BENCH_TIMEOUT=8s shortens the longest of those runs); a fleet of 48 hosts against
# one account's quota, then the same fleet with the timer (hosts warm within 20 s, then
# pull) beside it without; then the binary's size.
bench: install binary
	ECRPY_BENCH_EXE=$(BINARY) $(SCRIPT) bench/bench.py
	$(SCRIPT) bench/fleet.py
	$(SCRIPT) bench/fleet.py --spread 10 --no-go --no-floor
	$(SCRIPT) bench/fleet.py --timer 20 --no-floor
	$(SCRIPT) packaging/bench_binary.py $(BINARY)

# The fleet alone, with its options (bench/fleet.py --help), e.g.
#   make bench-fleet FLEET_ARGS='--hosts 192 --pulls 4 --rate 4 --burst 12'
bench-fleet: install
	$(SCRIPT) bench/fleet.py $(FLEET_ARGS)

# A venv of exactly the pinned packages of a requirements file: $(call pinned_venv,VENV,FILE)
define pinned_venv
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is required")'
	rm -rf $(1)
	$(PYTHON) -m venv $(1)
	$(1)/bin/pip install --quiet --no-deps --require-virtualenv -r $(2)
	$(1)/bin/pip check
	@touch $(1)/.deps-stamp
endef

$(BUILD_STAMP): packaging/requirements-build.txt
	$(call pinned_venv,$(BUILD_VENV),$<)

# dist/docker-credential-ecrpy-<version>-linux-<arch>{/,.tar.gz} and a .deb; see packaging/.
binary: $(BUILD_STAMP)
	packaging/build.sh $(BUILD_VENV)/bin/python

# The executable's suites (tests/executable), run against the binary instead of the console
# script: not the end-to-end ones, nor the in-process ones (tests/unit), which never start
# an executable and so would only run again what `make test` ran.
test-binary: binary install
	ECRPY_TEST_EXE=$(BINARY) $(BIN)/python -m pytest --ignore=tests/e2e --ignore=tests/unit \
		$(PYTEST_ARGS)

# The binary alone: its cache hit against `python -I -S -c pass`, its miss, its size on disk.
bench-binary: binary install
	$(SCRIPT) packaging/bench_binary.py $(BINARY)

$(RELEASE_STAMP): packaging/requirements-release.txt
	$(call pinned_venv,$(RELEASE_VENV),$<)

# Everything a release publishes, in dist/: wheel, sdist, the binary's tarball and .deb for
# this machine's architecture, the _all.deb on Debian's python3, the SBOM, SHA256SUMS.
# Installs the Debian tools it needs when run as root. See packaging/README.md.
release: $(BUILD_STAMP) $(RELEASE_STAMP)
	packaging/release-tools.sh objdump:binutils dpkg-deb:dpkg-dev
	packaging/release.sh $(RELEASE_VENV)/bin/python $(BUILD_VENV)/bin/python

# Checks the release in dist/ (built first when dist/ holds no release of this version) as
# users get it: checksums, twine check, wheel and sdist in fresh venvs, the sdist's own
# tests, each .deb installed with apt, used, read (man) and purged, lintian. Needs root.
release-check: $(STAMP) $(RELEASE_STAMP)
	@grep -qs ' docker_credential_ecrpy-$(VERSION)-py3-none-any.whl$$' dist/SHA256SUMS || \
		$(MAKE) release
	packaging/release-tools.sh lintian:lintian man:man-db
	packaging/release-check.sh $(RELEASE_VENV)/bin/python $(BIN)/python

clean:
	rm -rf $(VENV) $(BUILD_VENV) $(RELEASE_VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
