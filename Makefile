# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Plain-HTTP local use: browsers would drop Secure cookies on http://127.0.0.1; links LTS
# sends (password reset) point at the local server (LTS_PUBLIC_URL, else its LTS_PORT).
# (Make reads both from the environment; no shell expansion, so make still execs the
# server directly and waits for gunicorn's graceful shutdown.)
RUN_SETTINGS := --set session_cookie_secure=false \
  --set public_url=$(or $(LTS_PUBLIC_URL),http://127.0.0.1:$(or $(LTS_PORT),8000))

.PHONY: run test test-unit test-integration test-system test-acceptance lint browser clean help fuzz bench-api bench-concurrency screenshots client

help:
	@echo "make run   - install, migrate, seed the demo and serve LTS with its trading loop"
	@echo "make test  - install and run the whole test suite"

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("LTS needs Python 3.11+") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	# The distribution was called "lts" before: drop that install and its metadata.
	$(BIN)/python -m pip uninstall --quiet --yes lts 2>/dev/null || true
	rm -rf lts.egg-info
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/flask lts $(RUN_SETTINGS) init-db
	$(BIN)/flask lts $(RUN_SETTINGS) demo
	$(BIN)/flask lts $(RUN_SETTINGS) run

# Debian's chromium for the browser tests; never a downloaded browser build.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	      || echo "could not install chromium: browser tests will be skipped"; \
	  else echo "chromium missing (run: sudo apt-get install chromium): browser tests skip"; fi; \
	fi

test: $(STAMP) browser
	$(BIN)/ruff check lts tests bench
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-unit test-integration test-system test-acceptance: $(STAMP)
	$(BIN)/python -m pytest tests/$(@:test-%=%)

# Schemathesis over the whole /api/v1 document, many random examples per operation.
FUZZ_EXAMPLES ?= 200
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_RANDOM=1 $(BIN)/python -m pytest -n 4 -p no:cacheprovider \
	  tests/integration/test_api_fuzz.py

# The API benchmark (gunicorn, 2 workers, wrk); prints requests/s and latencies.
# A typed Python client of /api/v1 in clients/python/ (not committed: clients/README.md).
client: $(STAMP)
	$(BIN)/python scripts/export_openapi.py build/openapi.json
	$(BIN)/openapi-python-client generate --path build/openapi.json \
	  --output-path clients/python --meta setup --overwrite \
	  --config clients/openapi-python-client.yml

bench-api: $(STAMP)
	$(BIN)/python bench/api_bench.py

# 16 concurrent clients writing for 30 s (SQLite, then PostgreSQL if LTS_TEST_DATABASE_URL).
bench-concurrency: $(STAMP)
	$(BIN)/python bench/concurrency_bench.py

lint: $(STAMP)
	$(BIN)/ruff check lts tests bench

# Every page at 1440 and 390 px into docs/screenshots/ (the README's gallery).
screenshots: $(STAMP) browser
	$(BIN)/python -m tests.acceptance.screenshots

clean:
	rm -rf $(VENV) instance .pytest_cache

# A fake OANDA v20 server (tests/fakes/oanda_v20.py) alone, for pointing an asset at it
# from the dashboard: base_url http://127.0.0.1:$(FAKE_OANDA_PORT), token and account as printed.
FAKE_OANDA_PORT ?= 8090
.PHONY: run-fake-oanda
run-fake-oanda: $(STAMP)
	$(BIN)/python -m tests.fakes.oanda_v20 --port $(FAKE_OANDA_PORT)
