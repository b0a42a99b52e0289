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

$(RUN_STAMP): requirements/layer.in requirements/run.txt client/pyproject.toml
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
test: lint go-toolchain browser ## Everything CI runs: lint, unit, contract, end-to-end and Terraform tests.
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

# The console's browser tests (tests/console/) drive Debian's Chromium through its chromedriver (Selenium;
# no browser download). Installed the same way as Go: only when missing, only as root with apt-get.
BROWSER_DEBS := chromium chromium-driver

.PHONY: browser
browser: ## Chromium and chromedriver from Debian for the console's browser tests (when missing; needs root).
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then exit 0; fi; \
	if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BROWSER_DEBS); \
	else \
	  echo "browser: cannot install $(BROWSER_DEBS) (needs apt-get as root); the console's browser tests will skip" >&2; \
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
# Every workspace needs its own variables: a missing or mistyped file must not deploy the defaults.
TF_VAR_FILE := env/$(WORKSPACE).tfvars
TF_VARS := -var-file=$(TF_VAR_FILE) \
  $(if $(filter local,$(WORKSPACE)),-var=lambda_architecture=$(ARCH))
TF_RC := $(if $(wildcard $(TF_MIRROR)/registry.terraform.io),build/terraform-mirror.tfrc)
# Environments on AWS keep state in S3 (terraform/backend/<workspace>.s3.tfbackend); a workspace without
# one may only target an emulator and keeps local state, through a backend "local" override file.
TF_BACKEND_FILE := backend/$(WORKSPACE).s3.tfbackend
TF_LOCAL_OVERRIDE := terraform/local_backend_override.tf
# One data directory per workspace: each environment's backend is initialised on its own.
TF_DATA := $(CURDIR)/build/terraform/$(WORKSPACE)
TF_PLAN := $(TF_DATA)/saved.tfplan
tf-workspace plan apply deploy destroy describe tf-lock run-terraform: export TF_DATA_DIR := $(TF_DATA)

build/terraform-mirror.tfrc: # CLI config pointing `terraform init` at the provider mirror.
	mkdir -p $(@D)
	printf '%s\n' 'provider_installation {' '  filesystem_mirror {' '    path    = "$(TF_MIRROR)"' \
	  '    include = ["registry.terraform.io/hashicorp/*"]' '  }' '  direct {' \
	  '    exclude = ["registry.terraform.io/hashicorp/*"]' '  }' '}' > $@

.PHONY: tf-env
tf-env: # Refuse a workspace without its tfvars; pick its backend (S3, or local for an emulator).
	@test -f terraform/$(TF_VAR_FILE) || { echo "terraform/$(TF_VAR_FILE) does not exist: every workspace needs its variables (see terraform/README.md)" >&2; exit 1; }
	@if [ -f terraform/$(TF_BACKEND_FILE) ]; then rm -f $(TF_LOCAL_OVERRIDE); \
	elif grep -Eq '^[[:space:]]*aws_endpoint_url[[:space:]]*=[[:space:]]*"https?://' terraform/$(TF_VAR_FILE); then \
	  printf '%s\n' '# Written by make for an emulator workspace; never commit.' 'terraform {' '  backend "local" {}' '}' > $(TF_LOCAL_OVERRIDE); \
	else echo "terraform/$(TF_BACKEND_FILE) does not exist: a workspace on AWS keeps its state in S3 (see terraform/README.md)" >&2; exit 1; fi

.PHONY: lock
lock: $(STAMP) ## Resolve requirements/layer.in into requirements/layer.txt (every package pinned, with hashes).
	$(VENV)/bin/uv pip compile requirements/layer.in --universal --python-version 3.13 --generate-hashes \
	  --custom-compile-command "make lock" --quiet --output-file requirements/layer.txt

.PHONY: build
build: $(STAMP) ## Lambda zips, the layer zip and its SBOM (layer.sbom.json) under build/ (ARCH=arm64|x86_64).
	$(PY) scripts/build.py --architecture $(ARCH)

.PHONY: tf-workspace
tf-workspace: tf-env $(TF_RC)
	$(TF) init -input=false -lockfile=readonly $(if $(wildcard terraform/$(TF_BACKEND_FILE)),-backend-config=$(TF_BACKEND_FILE))
	$(TF) workspace select -or-create $(WORKSPACE)

.PHONY: plan
plan: tf-env build tf-workspace ## Plan WORKSPACE with terraform/env/<workspace>.tfvars and save it for `make apply`.
	$(TF) plan -input=false $(TF_VARS) -out=$(TF_PLAN) $(TF_ARGS)
	sha256sum build/manifest.json > $(TF_PLAN).build

.PHONY: apply
apply: tf-env ## Apply WORKSPACE's saved plan (from `make plan`); without one, build, plan and ask.
	@if [ -f $(TF_PLAN) ]; then \
	  sha256sum --check --status $(TF_PLAN).build || { echo "build/ changed since \`make plan\`: plan again" >&2; exit 1; }; \
	  $(MAKE) --no-print-directory tf-workspace && $(TF) apply -input=false $(TF_ARGS) $(TF_PLAN) && rm -f $(TF_PLAN) $(TF_PLAN).build; \
	else $(MAKE) --no-print-directory build tf-workspace && $(TF) apply -input=false $(TF_VARS) $(TF_ARGS); fi

.PHONY: destroy
destroy: tf-env build tf-workspace ## terraform destroy for WORKSPACE.
	$(TF) destroy $(TF_VARS) $(TF_ARGS)

.PHONY: deploy
deploy: $(RUN_STAMP) tf-workspace ## Shift WORKSPACE's live aliases to the versions `make apply` published, through CodeDeploy (canary_deployments).
	$(TF) output -json canary_deployments > $(TF_DATA)/canary_deployments.json
	$(PY) scripts/deploy_canary.py $(TF_DATA)/canary_deployments.json $(ARGS)

.PHONY: describe
describe: tf-workspace ## Print WORKSPACE's outputs (API URL, table, topic, dashboard, caller policies).
	$(TF) output $(TF_ARGS)

.PHONY: tf-lock
tf-lock: $(TF_RC) ## Rewrite terraform/.terraform.lock.hcl (from the provider mirror where there is one).
	$(TF) providers lock $(if $(TF_RC),-fs-mirror=$(TF_MIRROR),-platform=linux_amd64 -platform=linux_arm64 -platform=darwin_arm64)

.PHONY: tf-check
tf-check: $(STAMP) $(TF_RC) ## terraform fmt -check, validate and checkov (no cloud access needed).
	terraform fmt -check -recursive terraform
	TF_DATA_DIR=$(CURDIR)/build/tf-check $(TF) init -backend=false -input=false >/dev/null
	TF_DATA_DIR=$(CURDIR)/build/tf-check $(TF) validate
	$(VENV)/bin/checkov -d terraform --framework terraform --skip-download --quiet --compact
