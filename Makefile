# imbalance-spark: `make demo` runs the job on a generated demo table, `make test` runs the tests.
# Both create .venv and install what they need (Python packages here, Delta jars through
# Spark's Ivy on first use, cached in ~/.ivy2.5.2). Needs Python 3.10+ and Java 17+.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= dev,airflow,bench,mlflow
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)-$(EXTRAS)

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: install
	$(BIN)/imbalance-spark demo

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/run.py

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf data spark-warehouse metastore_db derby.log .pytest_cache
