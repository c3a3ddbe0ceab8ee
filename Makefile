# The two commands: `make demo` and `make test`. Both set up everything on a fresh Debian/Ubuntu
# machine when run as root (elsewhere they print the exact command to run first).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_DB ?= demo/shequ.db
# the tests run in two processes (pytest-xdist; the tests that share the demo stay in one); PARALLEL= runs them in one
PARALLEL ?= -n 2 --dist loadgroup
# pytest with bytecode caching on even where the environment turns it off (PYTHONDONTWRITEBYTECODE): without it
# every worker re-compiles and re-rewrites ~300 modules, about 6 s a run
PYTEST = env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest
# Runtime needs SpatiaLite; the tests also need PostgreSQL + PostGIS (a throwaway cluster per run)
# Chromium with a CJK font (page tests and screenshots, driven by Playwright; never `playwright install`)
# and GDAL's command-line tools (a real OGC API client in the tests).
# The PDFs of the report pages (WeasyPrint) need Pango and a CJK font at run time.
DEPS_RUN := libsqlite3-mod-spatialite libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-wqy-zenhei
DEPS_TEST := $(DEPS_RUN) postgresql postgresql-15-postgis-3 chromium gdal-bin

.PHONY: demo test check bench bench-web venv deps deps-test lint screenshots docs clean

demo: deps venv
	@mkdir -p $(dir $(DEMO_DB))
	$(BIN)/shequ --db sqlite:///$(DEMO_DB) demo
	$(BIN)/shequ --db sqlite:///$(DEMO_DB) serve --host $(HOST) --port $(PORT)

# Everything, on SpatiaLite and a throwaway PostGIS cluster, with Chromium and GDAL as clients.
test: deps-test venv
	$(BIN)/ruff check .
	scripts/lint-imports.sh
	SHEQU_REQUIRE_POSTGIS=1 SHEQU_REQUIRE_BROWSER=1 $(PYTEST) -q $(PARALLEL)

# The quick loop: lint, the import contracts, and every test but the browser and PostGIS ones
# (the API fuzz sends 8 generated requests per operation here, 25 in `make test`).
check: venv
	$(BIN)/ruff check .
	scripts/lint-imports.sh
	SHEQU_FUZZ_EXAMPLES=8 $(PYTEST) -q -m "not browser and not postgis" $(PARALLEL)

# The walking-coverage benchmark (not part of `make test`): shequ against the networkx recipes and
# pandana, in one process on the same data. pandana is AGPL and optional: if it does not install,
# the benchmark runs without it. BENCH_ARGS="--quick" for a one-minute smoke run.
# Then the siting benchmark: exact MCLP against greedy and spopt's straight-line MCLP, every method's
# sites judged on foot (bench/siting_bench.py; SITING_BENCH_ARGS, which takes BENCH_ARGS' --quick).
BENCH_ARGS ?=
SITING_BENCH_ARGS ?= $(filter --quick,$(BENCH_ARGS))
bench: deps venv
	@$(BIN)/pip install --quiet -e ".[bench]" || \
		echo "note: pandana (optional, AGPL) did not install; the benchmark runs without it"
	$(BIN)/python bench/coverage_bench.py $(BENCH_ARGS)
	$(BIN)/python bench/siting_bench.py $(SITING_BENCH_ARGS)

# Page weight and speed (not part of `make test`): the demo served (built first if missing), every page opened
# in headless Chromium on the local link and at 1.6 Mbit/s; the table goes to docs/web-benchmark.md.
WEB_BENCH_ARGS ?=
bench-web: deps-test venv
	$(BIN)/python bench/web_bench.py --db sqlite:///$(DEMO_DB) $(WEB_BENCH_ARGS)

deps:
	@scripts/system-deps.sh $(DEPS_RUN)

deps-test:
	@scripts/system-deps.sh $(DEPS_TEST)

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "shequ needs Python >= 3.11 (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	@touch $@

lint: venv
	$(BIN)/ruff check .
	scripts/lint-imports.sh

# Retake the pictures in docs/screenshots (the page tests save them there only when asked).
screenshots: deps-test venv
	SHEQU_SCREENSHOTS=1 SHEQU_REQUIRE_BROWSER=1 $(PYTEST) -q -m browser -k "not postgis"

# Regenerate docs/layers.md from the schema (a test checks it is current).
docs: venv
	$(BIN)/shequ schema --markdown > docs/layers.md

clean:
	rm -rf $(VENV) demo *.egg-info
