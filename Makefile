# The entry point for everything a person does. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
# Two stamps: `make run` installs only what serving needs; every other target adds the dev tools.
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed-dev
WORKSPACE ?= local

# The hashicorp/aws provider mirror shipped on offline build machines; elsewhere `terraform init`
# uses the registry as usual.
TF_MIRROR ?= /opt/tf-plugins
ifneq ($(wildcard $(TF_MIRROR)/registry.terraform.io),)
export TF_CLI_CONFIG_FILE := $(CURDIR)/build/terraform-mirror.tfrc
endif

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(RUN_STAMP): requirements/layer.txt requirements/run.txt client/pyproject.toml
	test -x $(PY) || "$$(scripts/find_python.sh)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/run.txt -e ./client
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP) requirements/dev.txt
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $(STAMP)

.PHONY: venv
venv: $(STAMP) ## Create the virtual environment with every tool (done by every target that needs it).

.PHONY: lint
lint: $(STAMP) ## ruff and mypy (strict).
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

.PHONY: test
test: lint go-toolchain ## Everything CI runs: lint, unit, contract, end-to-end and Terraform tests.
	$(PY) -m pytest

# The Go client compatibility test (tests/local_runtime/test_go_client.py) compiles against Debian's
# packaged aws-sdk-go-v2 (no Go module proxy needed). Installed only when missing and only where apt-get
# can run as root (CI); elsewhere that one test skips, saying so.
GO_DEBS := golang-go golang-github-aws-aws-sdk-go-v2-dev
GO_SIGNER := /usr/share/gocode/src/github.com/aws/aws-sdk-go-v2/aws/signer/v4

.PHONY: go-toolchain
go-toolchain: ## Go and aws-sdk-go-v2 from Debian for the Go client test (when missing; needs root).
	@if command -v go >/dev/null && [ -d $(GO_SIGNER) ]; then exit 0; fi; \
	if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(GO_DEBS); \
	else \
	  echo "go-toolchain: cannot install $(GO_DEBS) (needs apt-get as root); the Go client test will skip" >&2; \
	fi

.PHONY: contract
contract: $(STAMP) ## Regenerate the layer's contract.json and compiled validators from openapi.yaml.
	$(PY) scripts/export_contract.py
	$(PY) scripts/compile_validators.py

.PHONY: run
run: $(RUN_STAMP) ## Run the whole event store locally (emulator :4566, API :8000).
	$(PY) -m local_runtime $(ARGS)

.PHONY: run-terraform
run-terraform: build tf-workspace ## Serve what Terraform deploys: apply WORKSPACE to a fresh emulator, run its zips.
	$(PY) -m local_runtime --from-terraform --workspace $(WORKSPACE) --build-dir build $(ARGS)

.PHONY: bench
bench: $(STAMP) ## Benchmarks: cold start, requests and write units per operation, throughput, cost.
	$(PY) -m bench $(ARGS)

# --- Build and deploy (terraform/) -------------------------------------------------------------------
# The local workspace runs its zips on this machine (`make run ARGS=--from-terraform`), so it is built for
# this machine's architecture: the layer's compiled wheels must load here.
HOST_ARCH := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86_64)
ARCH ?= $(if $(filter local,$(WORKSPACE)),$(HOST_ARCH),arm64)
TF := terraform -chdir=terraform
TF_VARS := $(if $(wildcard terraform/env/$(WORKSPACE).tfvars),-var-file=env/$(WORKSPACE).tfvars) \
  $(if $(filter local,$(WORKSPACE)),-var=lambda_architecture=$(ARCH))
TF_RC := $(if $(wildcard $(TF_MIRROR)/registry.terraform.io),build/terraform-mirror.tfrc)

build/terraform-mirror.tfrc: # CLI config pointing `terraform init` at the provider mirror.
	mkdir -p $(@D)
	printf '%s\n' 'provider_installation {' '  filesystem_mirror {' '    path    = "$(TF_MIRROR)"' \
	  '    include = ["registry.terraform.io/hashicorp/*"]' '  }' '  direct {' \
	  '    exclude = ["registry.terraform.io/hashicorp/*"]' '  }' '}' > $@

.PHONY: build
build: $(STAMP) ## Lambda zips and the layer zip under build/ (ARCH=arm64|x86_64).
	$(PY) scripts/build.py --architecture $(ARCH)

.PHONY: tf-workspace
tf-workspace: $(TF_RC)
	$(TF) init -input=false
	$(TF) workspace select -or-create $(WORKSPACE)

.PHONY: plan
plan: build tf-workspace ## terraform plan for WORKSPACE (with terraform/env/<workspace>.tfvars if present).
	$(TF) plan $(TF_VARS) $(TF_ARGS)

.PHONY: apply
apply: build tf-workspace ## terraform apply for WORKSPACE, e.g. `make apply WORKSPACE=staging`.
	$(TF) apply $(TF_VARS) $(TF_ARGS)

.PHONY: destroy
destroy: build tf-workspace ## terraform destroy for WORKSPACE.
	$(TF) destroy $(TF_VARS) $(TF_ARGS)

.PHONY: describe
describe: tf-workspace ## Print WORKSPACE's outputs (API URL, table, topic, dashboard, caller policies).
	$(TF) output $(TF_ARGS)

.PHONY: tf-check
tf-check: $(STAMP) $(TF_RC) ## terraform fmt -check, validate and checkov (no cloud access needed).
	terraform fmt -check -recursive terraform
	TF_DATA_DIR=$(CURDIR)/build/tf-check $(TF) init -backend=false -input=false >/dev/null
	TF_DATA_DIR=$(CURDIR)/build/tf-check $(TF) validate
	$(VENV)/bin/checkov -d terraform --framework terraform --skip-download --quiet --compact
