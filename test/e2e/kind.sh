#!/usr/bin/env bash
# Flo end to end on a real Kubernetes cluster, for a machine with Docker:
# create a kind cluster, build the image and load it into the cluster (no public Flo
# image is published), install the chart with the example FloCluster (the real API server
# checks the CRD's structural schema here), run `helm test`, produce and consume through
# the client Service from a pod, and check that a scale beyond one broker is refused
# (brokers do not replicate partitions yet). Deletes the cluster on exit unless
# FLO_KIND_KEEP=1. Needs: docker, kind, kubectl, helm.
set -euo pipefail

CLUSTER="${FLO_KIND_CLUSTER:-flo-e2e}"
IMAGE="${FLO_IMAGE:-flo.local/flo:dev}"
NAMESPACE="${FLO_NAMESPACE:-flo-system}"
TIMEOUT="${FLO_TIMEOUT:-5m}"

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "kind.sh: $tool is required" >&2; exit 2; }
done
cd "$(dirname "$0")/../.."

cleanup() {
  if [ "${FLO_KIND_KEEP:-0}" != "1" ]; then kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

step() { printf '\n==> %s\n' "$*"; }

step "creating kind cluster $CLUSTER"
kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --wait 120s
kubectl config use-context "kind-$CLUSTER" >/dev/null

step "building $IMAGE"
docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"

step "installing the chart with the example FloCluster"
helm upgrade --install flo charts/flo -n "$NAMESPACE" --create-namespace \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --set image.pullPolicy=Never \
  --set example.enabled=true --wait --timeout "$TIMEOUT"
kubectl -n "$NAMESPACE" wait --for=condition=Ready flocluster/flo --timeout="$TIMEOUT"
kubectl -n "$NAMESPACE" get floclusters,statefulsets,pods,services

step "helm test"
helm test flo -n "$NAMESPACE" --logs

step "produce and consume through the client Service"
kubectl -n "$NAMESPACE" run flo-client --rm -i --restart=Never --image="$IMAGE" --image-pull-policy=Never --command -- \
  sh -c 'flo produce --url http://flo:3000 -n /kind/smoke -d "hello from kind" && flo consume --url http://flo:3000 -n "/kind/**" --limit 10 | grep -q "hello from kind"'

step "a scale beyond one broker is refused until brokers replicate"
if kubectl -n "$NAMESPACE" scale flocluster/flo --replicas=2 2>scale.err; then
  echo "kind.sh: scaling to 2 brokers was accepted; it must be refused" >&2; exit 1
fi
grep -q 'replicas above 1 are refused' scale.err || { cat scale.err >&2; exit 1; }
rm -f scale.err
kubectl -n "$NAMESPACE" wait --for=condition=Ready flocluster/flo --timeout="$TIMEOUT"

step "all checks passed"
