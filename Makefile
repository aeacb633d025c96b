# Two set-up commands: `make run` (install + convert samples/ into out/) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TRAIN_STAMP := $(VENV)/.installed-train
# The CPU build of torch that the training extra needs; an unpinned torch pulls a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0

.PHONY: run test test-fast bench install install-train samples eval-real clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,eval]'
	touch $@

$(TRAIN_STAMP): $(STAMP)
	$(BIN)/pip install --quiet '$(TORCH_SPEC)'
	$(BIN)/pip install --quiet -e '.[dev,eval,train]'
	touch $@

install: $(STAMP)

install-train: $(TRAIN_STAMP)

tests/js/node_modules: tests/js/package.json tests/js/package-lock.json
	npm ci --prefix tests/js --no-audit --no-fund --silent
	touch $@

run: $(STAMP)
	$(BIN)/omr convert samples/ -o out --to musicxml,midi,chart --overwrite

test: $(TRAIN_STAMP) tests/js/node_modules
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	$(BIN)/python -m omrcli.bench --append docs/benchmarks.md

samples: $(TRAIN_STAMP)
	$(BIN)/python -m omrcli.train.samples --out samples

eval-real: $(STAMP)
	$(BIN)/python -m omrcli.realeval

clean:
	rm -rf out .pytest_cache
