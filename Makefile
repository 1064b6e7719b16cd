# The two quick-start commands are `make demo` and `make test`; both set up the virtualenv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

NPM_STAMP := node_modules/.installed

.PHONY: setup demo test lint bench clean

setup: $(STAMP) $(NPM_STAMP)

# GOV.UK Frontend for the web pages, at the version package-lock.json pins (served by sendmatch
# itself from node_modules/govuk-frontend/dist; nothing is fetched from a CDN at view time).
$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NPM_STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: setup
	$(BIN)/sendmatch demo

# The API tests run on SQLite and, when PostgreSQL's binaries are installed, on a throwaway
# PostgreSQL server as well (.ci/with-postgres.sh; TEST_DATABASE_URL picks your own instead).
test: setup lint
	.ci/with-postgres.sh $(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check matcher geodata api tests benchmarks
	$(BIN)/ruff format --check matcher geodata api tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/pip install -q -e ".[bench]"  # spopt and HiGHS for the p-median comparison
	$(BIN)/python benchmarks/placement_scale.py
	$(BIN)/python benchmarks/round_end_to_end.py
	$(BIN)/python benchmarks/exact_levels.py
	$(BIN)/python benchmarks/input_loading.py
	$(BIN)/python benchmarks/tailored_lists.py
	$(BIN)/python benchmarks/travel_matrix.py
	$(BIN)/python benchmarks/site_choice.py --instance la-5k-k2
	$(BIN)/python benchmarks/site_choice.py --instance la-25k-sizes-k3
	$(BIN)/python benchmarks/site_choice.py --instance la-25k-k5 --solvers benders --pmedian-time-limit 0
	$(BIN)/python benchmarks/api_load.py
	$(BIN)/python benchmarks/forecast.py
	$(BIN)/python benchmarks/forecast_all_las.py

clean:
	rm -rf $(VENV) node_modules build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
