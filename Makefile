# Development and CI entry points; CI runs exactly `make test` (see .ci/run).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# sslyze (the TLS scanner of tests/gateway/test_sslyze.py) gets a virtualenv of its own: every
# sslyze release caps cryptography below the version the gateway runs. The stamp names the pin,
# so changing SSLYZE_VERSION reinstalls it.
SSLYZE_VERSION := 6.3.1
SSLYZE_VENV := $(VENV)/tools/sslyze
SSLYZE_STAMP := $(SSLYZE_VENV)/.installed-$(SSLYZE_VERSION)
# axe-core, the accessibility rules tests/portal/test_accessibility.py injects into Chromium,
# is an npm package: installed here under tests/fixtures (never fetched by a test). The stamp
# names the pin, so changing AXE_CORE_VERSION reinstalls it. Debian's npm is installed only
# when no npm is on PATH.
AXE_CORE_VERSION := 4.14.1
AXE_CORE_DIR := tests/fixtures/axe-core
AXE_CORE_STAMP := $(AXE_CORE_DIR)/.installed-$(AXE_CORE_VERSION)

# Debian packages the gateway and its tests need: postgresql (server binaries initdb/pg_ctl
# for the embedded PostgreSQL), pebble (the ACME CA and pebble-challtestsrv DNS the
# certificate tests run against), Pango for WeasyPrint's invoice PDFs, Chromium for the
# end-to-end browser tests, faketime for the moved-clock passes below, podman with
# buildah, debootstrap and runc to build and run the container image without a registry
# (tests/fixtures/podman.py), and haproxy for the replicas-behind-a-load-balancer test
# (deploy/haproxy.cfg).
# Add packages here; `system-deps` installs what is missing.
SYSTEM_PACKAGES := postgresql pebble libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 chromium \
	faketime podman buildah debootstrap runc haproxy
# Only `make bench` needs these (CI never benchmarks): wrk, the keep-alive load generator;
# caddy, measured beside the gateway. The bench starts its own caddy process with a generated
# config on free loopback ports and no admin endpoint, so a caddy service the package may have
# started (port 80, admin on 2019) neither disturbs it nor is touched.
BENCH_PACKAGES := wrk caddy

# Moved-clock passes: the tests whose outcome can depend on the date (periods, trials,
# expiry of cards, portal links, sessions and checkouts, signed webhooks, invoice due dates),
# run again with the clock of pytest and of everything it starts (PostgreSQL, localstripe)
# moved ahead by faketime, so no test can lean on today's date. tests/kernel checks that the
# clock really moved. Chromium hangs under faketime and Pebble (Go) ignores it: browser
# tests (the accessibility audits run in Chromium too) and ACME tests stay out.
CLOCK_DIRS := tests/kernel tests/billing tests/portal tests/checkout tests/dashboard \
	tests/gateway/api
CLOCK_IGNORE := --ignore-glob='*/test_browser*.py' --ignore-glob='*/test_accessibility.py'
CLOCK_OFFSET := +3y
CLOCK_OFFSETS := +400d +3y
PYTEST := $(BIN)/pytest -q -p no:cacheprovider

.PHONY: help deps system-deps venv catalogues catalogues-update sslyze-venv axe-core run test test-clock lint format bench screenshots clean

help:
	@echo "make run          start the gateway with an embedded PostgreSQL and demo data"
	@echo "make test         run the whole test suite (installs what is missing first),"
	@echo "                  then the date-dependent tests with the clock moved $(CLOCK_OFFSET)"
	@echo "make test-clock   the same date-dependent tests with the clock moved $(CLOCK_OFFSETS)"
	@echo "make lint         ruff format --check, ruff check, mypy"
	@echo "make format       apply ruff's formatting and safe fixes"
	@echo "make bench        run the benchmarks in bench/"
	@echo "make screenshots  take the README's screenshots from the demo (docs/screenshots/)"
	@echo "make deps         install Debian packages and the virtualenv only"
	@echo "make sslyze-venv  install sslyze in its own virtualenv (make test does it)"
	@echo "make axe-core     install axe-core for the accessibility tests (make test does it)"
	@echo "make clean        remove the virtualenv, axe-core and caches (keeps .data)"

# $(call install-debian,PACKAGES): install the packages dpkg does not know (as root), else
# say how to.
define install-debian
	@missing=""; \
	for package in $(1); do \
		dpkg -s "$$package" >/dev/null 2>&1 || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" -ne 0 ]; then \
			echo "missing Debian packages:$$missing"; \
			echo "install them as root: apt-get update && apt-get install -y$$missing"; \
			exit 1; \
		fi; \
		echo "installing Debian packages:$$missing"; \
		apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
endef

deps: system-deps venv

system-deps:
	$(call install-debian,$(SYSTEM_PACKAGES))

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	$(MAKE) catalogues
	touch $(STAMP)

# Compile the gettext catalogues (web/locale/*/LC_MESSAGES/messages.po -> .mo). The gateway
# compiles a missing or stale .mo in memory at start-up, so this only saves that work.
catalogues:
	$(BIN)/pybabel compile --statistics -d web/locale -D messages

# Refresh the catalogues from the code and templates (babel.cfg), then translate what is new.
catalogues-update:
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output -w 100 -o web/locale/messages.pot .
	$(BIN)/pybabel update -i web/locale/messages.pot -d web/locale -D messages --no-fuzzy-matching --ignore-obsolete -w 100
	rm web/locale/messages.pot

sslyze-venv: $(SSLYZE_STAMP)

$(SSLYZE_STAMP):
	test -x $(SSLYZE_VENV)/bin/python || $(PYTHON) -m venv $(SSLYZE_VENV)
	$(SSLYZE_VENV)/bin/pip install -q 'sslyze==$(SSLYZE_VERSION)'
	rm -f $(SSLYZE_VENV)/.installed-*
	touch $(SSLYZE_STAMP)

axe-core: $(AXE_CORE_STAMP)

$(AXE_CORE_STAMP):
	$(if $(shell command -v npm),,$(call install-debian,npm))
	npm install --prefix $(AXE_CORE_DIR) --no-save --no-package-lock --no-audit --no-fund \
		'axe-core@$(AXE_CORE_VERSION)'
	rm -f $(AXE_CORE_DIR)/.installed-*
	touch $(AXE_CORE_STAMP)

run: deps
	GATEWAY_REDIRECT_HTTP=false $(BIN)/gateway serve --demo

test: deps sslyze-venv axe-core
	$(PYTEST)
	faketime -f '$(CLOCK_OFFSET)' $(PYTEST) $(CLOCK_IGNORE) $(CLOCK_DIRS)

test-clock: deps
	@set -e; for offset in $(CLOCK_OFFSETS); do \
		echo "== clock moved $$offset"; \
		faketime -f "$$offset" $(PYTEST) $(CLOCK_IGNORE) $(CLOCK_DIRS); \
	done

lint: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/mypy docs/screenshots.py

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: deps
	$(call install-debian,$(BENCH_PACKAGES))
	$(BIN)/python bench/run.py

screenshots: deps
	$(BIN)/python docs/screenshots.py

clean:
	rm -rf $(VENV) $(AXE_CORE_DIR) .mypy_cache .ruff_cache .pytest_cache .hypothesis *.egg-info
