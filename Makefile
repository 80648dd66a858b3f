# coordscope — every entry point a developer or CI needs.
# `make demo` and `make test` work on a fresh clone: they create .venv when it is missing.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
DEMO   ?= demo-output
LOWEST ?= .venv-lowest

.PHONY: help install demo test test-lowest check lint format type bench quality clean

help:
	@echo "make demo   - install into $(VENV) and run the main job on the bundled demo data"
	@echo "make test   - run the whole test suite (installs the spark extra for its tests)"
	@echo "make test-lowest - tests against the oldest dependency versions pyproject.toml allows ($(LOWEST))"
	@echo "make check  - ruff, mypy and the tests"
	@echo "make bench  - run benchmarks/ (JSON results in benchmarks/results/)"
	@echo "make quality - detection quality over the scenario suite (benchmarks/results/quality.json)"

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/coordscope simulate --scenario demo --seed 7 --format twitter-v2 -o $(DEMO)
	$(BIN)/coordscope audit $(DEMO)/tweets.jsonl -o $(DEMO)/audit
	$(BIN)/coordscope evaluate $(DEMO)/audit --truth $(DEMO)/truth.parquet
	@echo "report: $(DEMO)/audit/report.html   (demo data and its truth: $(DEMO)/)"

# the Spark runner's tests need the spark extra (pyspark, pyarrow; about 450 MB)
$(VENV)/.spark: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev,spark]'
	touch $@

test: $(VENV)/.spark
	$(PY) -m pytest -q

# The lower bounds of pyproject.toml, checked: a venv of its own with every runtime and dev
# dependency pinned to its '>=' bound (tools/lowest_constraints.py; the spark extra is left
# out), wheels only, so a bound without a wheel for this Python fails instead of compiling.
# It is made anew whenever pyproject.toml changes.
$(LOWEST)/.installed: pyproject.toml tools/lowest_constraints.py
	rm -rf $(LOWEST)
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install --quiet --upgrade pip
	$(LOWEST)/bin/python tools/lowest_constraints.py dev > $(LOWEST)/constraints.txt
	$(LOWEST)/bin/python -m pip install --quiet --only-binary :all: \
		--constraint $(LOWEST)/constraints.txt -e '.[dev]'
	$(LOWEST)/bin/python -m pip check
	touch $@

# About a minute and a half: the doctests import every module; the API of every stage
# (polars), the CLI (typer, rich), the report (matplotlib, jinja2), the numba kernels,
# the scorer (scikit-learn), compressed input (zstandard) and domains (publicsuffixlist).
# numba's cache is kept in the venv, apart from the one of `make test`.
LOWEST_TESTS := coordscope tests/test_api.py tests/test_cli.py tests/test_report.py \
	tests/test_kernel.py tests/test_schema.py tests/test_scorer.py \
	tests/test_reader_generic.py tests/test_actions.py tests/test_packaging.py

test-lowest: $(LOWEST)/.installed
	NUMBA_CACHE_DIR=$(CURDIR)/$(LOWEST)/numba-cache \
		$(LOWEST)/bin/python -m pytest -q -m "not slow" $(LOWEST_TESTS)

lint: $(VENV)/.installed
	$(BIN)/ruff check coordscope tests benchmarks tools
	$(BIN)/ruff format --check coordscope tests benchmarks tools

format: $(VENV)/.installed
	$(BIN)/ruff format coordscope tests benchmarks tools
	$(BIN)/ruff check --fix coordscope tests benchmarks tools

type: $(VENV)/.installed
	$(BIN)/mypy

check: lint type test

bench: $(VENV)/.installed
	$(PY) -m benchmarks.run

quality: $(VENV)/.installed
	$(PY) -m benchmarks.quality

clean:
	rm -rf $(DEMO) .pytest_cache .mypy_cache .ruff_cache benchmarks/results/*.tmp
