# imbalance-spark: `make demo` runs the job on a generated demo table, `make test` runs the tests.
# Both create .venv and install what they need: the demo only the package itself, the tests also
# the extras in EXTRAS; then `imbalance-spark packages --fetch` resolves the Delta jars once (Spark's
# Ivy, from Maven Central) into ~/.cache/imbalance-spark/jars. Needs Python 3.10+ and Java 17+.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The extras `make install`/`make test` install (pyproject.toml [project.optional-dependencies]).
EXTRAS ?= dev,connect,airflow,bench,mlflow,xgboost
SUM    := $(shell cksum < pyproject.toml | cut -d' ' -f1)
CORE_STAMP := $(VENV)/.installed-$(SUM)-core
FULL_STAMP := $(VENV)/.installed-$(SUM)-$(EXTRAS)
# setuptools warns about every editable install of a flat layout; it says nothing to the user.
PIP_INSTALL := PYTHONWARNINGS="ignore:Editable installation:UserWarning" $(BIN)/python -m pip install --quiet \
	--disable-pip-version-check

.PHONY: install install-core demo test lint bench zip clean distclean

install: $(FULL_STAMP)
install-core: $(CORE_STAMP)

define venv_and_jars
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing $(1) into $(VENV) (the first time takes a few minutes)"
	@$(PIP_INSTALL) -e "$(1)"
	@$(BIN)/imbalance-spark packages --fetch
	@find $(VENV) -maxdepth 1 -name '.installed-*' ! -name '.installed-$(SUM)-*' -delete
endef

$(CORE_STAMP): pyproject.toml
	$(call venv_and_jars,.)
	@touch $@

# The test JVMs' class-data-sharing archive is made here, once per virtualenv (tests/jvm_archive.py,
# under a minute), like the jars: no test session pays for it.
$(FULL_STAMP): pyproject.toml
	$(call venv_and_jars,.[$(EXTRAS)])
	@echo "making the test JVMs' class-data-sharing archive (once per virtualenv, under a minute)"
	@$(BIN)/python -m tests.jvm_archive
	@touch $@ $(CORE_STAMP)

demo: $(CORE_STAMP)
	$(BIN)/imbalance-spark demo

test: $(FULL_STAMP)
	$(BIN)/python -m pytest

# Quick: 200k rows, one cold repetition of the core variants, a few minutes; results in data/bench/
# (benchmarks/README.md has the scaling runs that the docs cite).
bench: $(FULL_STAMP)
	$(BIN)/python -m benchmarks.run --rows 200k --repeat 1 --cold --variants core --out data/bench --name quick

lint: $(FULL_STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# The package as a zip for spark-submit --py-files (the executors and a cluster's driver import it),
# with the conf files the wheel carries (imbalance_spark/conf/: the log4j2 file, the demo config).
zip: dist/imbalance_spark.zip
dist/imbalance_spark.zip: $(shell find imbalance_spark -name '*.py') conf/__init__.py conf/log4j2.properties \
		conf/datasets/demo_fraud.yaml
	$(or $(wildcard $(BIN)/python),$(PYTHON)) -m imbalance_spark.packages zip $@

# Everything the commands above create inside the repo, except .venv (distclean).
clean:
	rm -rf data dist build spark-warehouse metastore_db derby.log .pytest_cache .ruff_cache \
		benchmarks/results/tmp *.egg-info
	find . -name __pycache__ -type d -not -path './.venv/*' -prune -exec rm -rf {} +

# clean + the virtualenv. Caches outside the repo are listed in docs/production.md#cleaning-up.
distclean: clean
	rm -rf $(VENV)
