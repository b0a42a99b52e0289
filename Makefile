# The entry point for everything a person does. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
WORKSPACE ?= local

# The hashicorp/aws provider mirror shipped on offline build machines; elsewhere `terraform init`
# uses the registry as usual.
TF_MIRROR ?= /opt/tf-plugins
ifneq ($(wildcard $(TF_MIRROR)/registry.terraform.io),)
export TF_CLI_CONFIG_FILE := $(CURDIR)/build/terraform-mirror.tfrc
endif

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements/layer.txt requirements/dev.txt client/pyproject.toml
	test -x $(PY) || "$$(scripts/find_python.sh)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt -e ./client
	touch $(STAMP)

.PHONY: venv
venv: $(STAMP) ## Create the virtual environment (done by every target that needs it).

.PHONY: lint
lint: $(STAMP) ## ruff and mypy (strict).
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

.PHONY: test
test: lint ## Everything CI runs: lint, unit, contract, end-to-end and Terraform tests.
	$(PY) -m pytest

.PHONY: run
run: $(STAMP) ## Run the whole event store locally (emulator :4566, API :8000).
	$(PY) -m local_runtime $(ARGS)

.PHONY: bench
bench: $(STAMP) ## Benchmarks: cold start, requests and write units per operation, throughput, cost.
	$(PY) -m bench $(ARGS)
