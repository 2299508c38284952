# The two entry points are `make demo` and `make test`; every other target is a step they use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCALSTACK_PYTHON ?= /root/.pyenv/versions/3.13.0/bin/python
LOCALSTACK_VENV := build/localstack-venv
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: demo test test-fast test-integration lint bench venv node localstack synth clean

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,cdk]'
	touch $@

node: node_modules/.installed
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

localstack: $(LOCALSTACK_VENV)/.installed
$(LOCALSTACK_VENV)/.installed: tools/localstack-executor/constraints.txt tools/localstack-executor/pyproject.toml $(wildcard tools/localstack-executor/*/*.py)
	test -x $(LOCALSTACK_VENV)/bin/python || $(LOCALSTACK_PYTHON) -m venv $(LOCALSTACK_VENV)
	$(LOCALSTACK_VENV)/bin/pip install --quiet --upgrade pip
	$(LOCALSTACK_VENV)/bin/pip install --quiet -c tools/localstack-executor/constraints.txt 'localstack-core[runtime]==2026.3.0'
	$(LOCALSTACK_VENV)/bin/pip install --quiet --no-deps ./tools/localstack-executor
	touch $@

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

synth: venv node
	PATH=$(CURDIR)/$(BIN):$$PATH npx cdk synth --quiet

test: venv node localstack lint synth
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/pytest

test-fast: venv
	$(BIN)/pytest -m "not slow and not integration"

test-integration: venv node localstack
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/pytest -m integration

demo: venv
	$(BIN)/lambda-admm demo

bench: venv
	$(BIN)/python -m bench.run $(BENCH)

clean:
	rm -rf $(VENV) build node_modules cdk.out
