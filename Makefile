# coordscope — every entry point a developer or CI needs.
# `make demo` and `make test` work on a fresh clone: they create .venv when it is missing.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
DEMO   ?= demo-output

.PHONY: help install demo test check lint format type bench quality clean

help:
	@echo "make demo   - install into $(VENV) and run the main job on the bundled demo data"
	@echo "make test   - run the whole test suite (installs the spark extra for its tests)"
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

lint: $(VENV)/.installed
	$(BIN)/ruff check coordscope tests benchmarks
	$(BIN)/ruff format --check coordscope tests benchmarks

format: $(VENV)/.installed
	$(BIN)/ruff format coordscope tests benchmarks
	$(BIN)/ruff check --fix coordscope tests benchmarks

type: $(VENV)/.installed
	$(BIN)/mypy

check: lint type test

bench: $(VENV)/.installed
	$(PY) -m benchmarks.run

quality: $(VENV)/.installed
	$(PY) -m benchmarks.quality

clean:
	rm -rf $(DEMO) .pytest_cache .mypy_cache .ruff_cache benchmarks/results/*.tmp
