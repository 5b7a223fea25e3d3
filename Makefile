# Development and CI entry points; CI runs exactly `make test` (see .ci/run).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Debian packages the gateway and its tests need: postgresql (server binaries initdb/pg_ctl
# for the embedded PostgreSQL), pebble (the ACME CA and pebble-challtestsrv DNS the
# certificate tests run against), Pango for WeasyPrint's invoice PDFs, Chromium for the
# end-to-end browser tests.
# Add packages here; `system-deps` installs what is missing.
SYSTEM_PACKAGES := postgresql pebble libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 chromium

.PHONY: help deps system-deps venv run test lint format bench clean

help:
	@echo "make run          start the gateway with an embedded PostgreSQL and demo data"
	@echo "make test         run the whole test suite (installs what is missing first)"
	@echo "make lint         ruff format --check, ruff check, mypy"
	@echo "make format       apply ruff's formatting and safe fixes"
	@echo "make bench        run the benchmarks in bench/"
	@echo "make deps         install Debian packages and the virtualenv only"
	@echo "make clean        remove the virtualenv and caches (keeps .data)"

deps: system-deps venv

system-deps:
	@missing=""; \
	for package in $(SYSTEM_PACKAGES); do \
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

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

run: deps
	GATEWAY_REDIRECT_HTTP=false $(BIN)/gateway serve --demo

test: deps
	$(BIN)/pytest -q -p no:cacheprovider

lint: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: deps
	@if [ -f bench/run.py ]; then \
		$(BIN)/python bench/run.py; \
	else \
		echo "bench/ has no scenarios yet (bench/run.py is missing)"; \
	fi

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis *.egg-info
