# Two commands do all set-up on a fresh machine (see README):
#   make serve   installs the tool in .venv and serves it on the embedded default (SQLite)
#   make test    installs the tool with its test tools and passes every check
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: serve test test-postgres lint install install-test benchmarks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

.stamp-install: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

.stamp-install-test: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: .stamp-install
install-test: .stamp-install-test

serve: install
	$(BIN)/microcred serve $(SERVE_ARGS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	scripts/ensure-test-deps
	MICROCRED_REQUIRE_ENTRY_POINTS=1 MICROCRED_TEST_REQUIRE_NO_SKIPS=1 $(BIN)/pytest $(PYTEST_ARGS)

# The database tests again on PostgreSQL; a skipped test fails this run.
test-postgres: install-test
	scripts/ensure-test-deps
	MICROCRED_TEST_DATABASE_URL=$(PG_URL) MICROCRED_TEST_REQUIRE_NO_SKIPS=1 MICROCRED_REQUIRE_ENTRY_POINTS=1 \
		$(BIN)/pytest -m db $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .stamp-* .pytest_cache .mypy_cache .ruff_cache
