# The two commands a newcomer needs:
#   make demo   set up, start the local control plane, run the operator, apply an ECS service, show it
#   make test   set up and run every test (unit, integration on KWOK nodes, e2e on real kubelet nodes)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup lint format bins node-packages image test unit integration e2e demo cluster-up cluster-down crds bench clean

$(VENV)/.installed: requirements/lock.txt requirements/lint.txt requirements/clients.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --require-hashes -r requirements/lock.txt
	$(BIN)/pip install -q --disable-pip-version-check --require-hashes -r requirements/lint.txt
	$(BIN)/pip install -q --disable-pip-version-check --require-hashes -r requirements/clients.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

setup: $(VENV)/.installed        ## Python venv with the locked dependencies

bins:                            ## build the control plane binaries once (cached in ~/.cache/ecs-operator)
	bash hack/build-bins.sh >/dev/null

node-packages:                   ## Debian packages of the real nodes and local images (needs root)
	bash hack/install-node-packages.sh

image:                           ## the operator image from the Dockerfile, without Docker (buildah; needs root)
	bash hack/build-image.sh

lint: setup                      ## format, lint, type, import-layer, complexity and dead-code checks
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python hack/complexity.py
	$(BIN)/vulture operator/ecs_operator tests bench hack --min-confidence 80

format: setup                    ## apply the formatter and the safe lint fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: setup lint bins node-packages   ## lint + unit + integration + e2e tests (start and stop their own local clusters)
	$(BIN)/pytest tests

unit: setup
	$(BIN)/pytest tests/unit

integration: setup bins
	$(BIN)/pytest tests/integration

e2e: setup bins node-packages    ## the real-container tier only (real kubelet nodes; needs root)
	$(BIN)/pytest tests/e2e

demo: setup bins                 ## local cluster with a real node, the chart from its image, the example served by real containers
	$(BIN)/ecs-operator dev demo

cluster-up: setup bins
	$(BIN)/ecs-operator dev cluster up

cluster-down: setup
	$(BIN)/ecs-operator dev cluster down

crds: setup                      ## regenerate crds/ and models/generated.py from botocore's ECS model
	$(BIN)/python -m ecs_operator.models.gen
	cp crds/*.yaml charts/ecs-operator/crds/

clean:
	rm -rf $(VENV) .pytest_cache
