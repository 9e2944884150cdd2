#!/usr/bin/env bash
# End-to-end tests on a throwaway kind cluster: create the cluster (e2e/kind-config.yaml), build the engine and
# operator images and load them into kind, install the operator with its Helm chart, run the Rust e2e tests
# (crate ferrocache-e2e) against it, collect logs on failure, and delete the cluster.
#
#   bash e2e/run.sh              # everything, cluster deleted at the end
#   KEEP_CLUSTER=1 bash e2e/run.sh   # keep the cluster for a look afterwards
#
# Needs: kind, docker (with a running daemon), kubectl and helm on PATH, and network access to pull base images
# and redis:7.2-alpine (the client pods' image).
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${CLUSTER:-ferrocache-e2e}
TAG=${TAG:-0.1.0}
ENGINE_IMAGE=ghcr.io/ferrocache/ferrocache-engine
OPERATOR_IMAGE=ghcr.io/ferrocache/ferrocache-operator
CLIENT_IMAGE=redis:7.2-alpine
NAMESPACE=ferrocache-system
LOGS=${LOGS:-target/e2e-logs}

missing=()
for tool in kind docker kubectl helm; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "e2e/run.sh: missing ${missing[*]}." >&2
  echo "The end-to-end tests need kind, docker (daemon running), kubectl and helm on PATH; install them and run" >&2
  echo "  bash e2e/run.sh" >&2
  echo "(see https://kind.sigs.k8s.io and https://helm.sh/docs/intro/install/)." >&2
  exit 2
fi
if ! docker info >/dev/null 2>&1; then
  echo "e2e/run.sh: docker is installed but its daemon does not answer (docker info failed); start it and retry." >&2
  exit 2
fi

cleanup() {
  status=$?
  if [ "$status" -ne 0 ]; then
    echo "== collecting logs in $LOGS"
    mkdir -p "$LOGS"
    kubectl get all,cacheclusters,cacheparametergroups,events -A -o wide >"$LOGS/objects.txt" 2>&1 || true
    kubectl get cacheclusters -A -o yaml >"$LOGS/cacheclusters.yaml" 2>&1 || true
    kubectl -n "$NAMESPACE" logs deploy/ferrocache --all-containers --tail=-1 >"$LOGS/operator.log" 2>&1 || true
    kind export logs "$LOGS/kind" --name "$CLUSTER" >/dev/null 2>&1 || true
  fi
  if [ "${KEEP_CLUSTER:-0}" != 1 ]; then
    echo "== deleting kind cluster $CLUSTER"
    kind delete cluster --name "$CLUSTER" || true
  fi
  exit "$status"
}

echo "== helm lint and template"
helm lint charts/ferrocache-operator
helm template ferrocache charts/ferrocache-operator --namespace "$NAMESPACE" >/dev/null

echo "== images"
make images TAG="$TAG"
# The same engine image under a second tag, for the rolling image change test.
docker tag "$ENGINE_IMAGE:$TAG" "$ENGINE_IMAGE:e2e-next"
docker pull -q "$CLIENT_IMAGE"

echo "== kind cluster $CLUSTER"
kind create cluster --name "$CLUSTER" --config e2e/kind-config.yaml --wait 120s
trap cleanup EXIT
for image in "$ENGINE_IMAGE:$TAG" "$ENGINE_IMAGE:e2e-next" "$OPERATOR_IMAGE:$TAG" "$CLIENT_IMAGE"; do
  kind load docker-image --name "$CLUSTER" "$image"
done

echo "== helm install"
helm install ferrocache charts/ferrocache-operator --namespace "$NAMESPACE" --create-namespace \
  --set image.tag="$TAG" --set image.pullPolicy=Never --set logFormat=text --wait --timeout 180s
kubectl -n "$NAMESPACE" rollout status deploy/ferrocache --timeout=120s

echo "== e2e tests"
FERROCACHE_E2E=1 cargo test -p ferrocache-e2e --locked -- --test-threads=2

echo "== helm uninstall leaves no operator objects behind"
helm uninstall ferrocache --namespace "$NAMESPACE" --wait
left=$(kubectl get all,serviceaccounts,roles,rolebindings -n "$NAMESPACE" -l app.kubernetes.io/instance=ferrocache -o name)
left+=$(kubectl get clusterroles,clusterrolebindings -l app.kubernetes.io/instance=ferrocache -o name)
if [ -n "$left" ]; then
  echo "left behind after helm uninstall: $left" >&2
  exit 1
fi
# Helm never deletes CRDs from a chart's crds/ directory (so uninstalling cannot delete every CacheCluster).
echo "e2e passed"
