# Developer shortcuts. CI runs .ci/run, which ends with the e2e tests on the local Kubernetes kit (e2e/kit.sh);
# e2e-kind runs them on kind instead (needs kind, docker, kubectl and helm).
TAG ?= 0.1.0
REGISTRY ?= ghcr.io/ferrocache
ENGINE_IMAGE ?= $(REGISTRY)/ferrocache-engine
OPERATOR_IMAGE ?= $(REGISTRY)/ferrocache-operator

.PHONY: images engine-image operator-image crds test e2e e2e-kind

## images: build the engine and operator images (Docker with BuildKit)
images: engine-image operator-image

engine-image:
	docker build -f engine/Dockerfile -t $(ENGINE_IMAGE):$(TAG) .

operator-image:
	docker build -f operator/Dockerfile -t $(OPERATOR_IMAGE):$(TAG) .

## crds: regenerate crds/ and the Helm chart's crds/ from operator/src/api
crds:
	cargo run --bin crdgen

## test: what CI runs (installs test dependencies, fmt, clippy, tests, e2e on the kit)
test:
	bash .ci/run

## e2e: end-to-end tests on the local Kubernetes kit of ../shared/kube (root; no Docker)
e2e:
	bash e2e/kit.sh

## e2e-kind: end-to-end tests on a throwaway kind cluster
e2e-kind:
	bash e2e/run.sh
