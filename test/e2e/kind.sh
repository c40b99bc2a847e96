#!/usr/bin/env bash
# Flo end to end on a real Kubernetes cluster, for a machine with Docker:
# create a kind cluster, build the image and load it into the cluster (no public Flo
# image is published), install the chart with the example FloCluster (the real API server
# checks the CRD's structural schema here), run `helm test`, produce and consume through
# the client Service from a pod, then scale the example 1 → 3, roll it, scale it to 1, and check that every broker
# holds every event produced before, during and after (each read from the broker's own pod
# DNS name). Deletes the cluster on exit unless FLO_KIND_KEEP=1. Needs: docker, kind, kubectl, helm.
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

# Runs a flo command in a throwaway pod of the cluster.
flo_pod() {
  kubectl -n "$NAMESPACE" run "flo-client-$RANDOM" --rm -i --restart=Never --image="$IMAGE" --image-pull-policy=Never --command -- sh -c "$1"
}

# Every broker pod of the example must hold exactly $1 events under /kind/** (read from its own replica).
check_every_broker() {
  local want="$1" pods
  pods=$(kubectl -n "$NAMESPACE" get pods -l app.kubernetes.io/instance=flo,app.kubernetes.io/component=broker -o jsonpath='{.items[*].metadata.name}')
  for pod in $pods; do
    got=$(flo_pod "flo consume --json --url http://$pod.flo-peers:3000 -n '/kind/**' --limit 100000 | wc -l" | tail -1)
    [ "$got" = "$want" ] || { echo "kind.sh: $pod holds $got events under /kind/**, expected $want" >&2; exit 1; }
    echo "$pod holds all $want events"
  done
}

wait_brokers() {
  local want="$1"
  for _ in $(seq 1 150); do
    active=$(kubectl -n "$NAMESPACE" get flocluster/flo -o jsonpath='{range .status.brokers[?(@.state=="active")]}{.id}{" "}{end}' | wc -w)
    phase=$(kubectl -n "$NAMESPACE" get flocluster/flo -o jsonpath='{.status.phase}')
    [ "$active" = "$want" ] && [ "$phase" = "Ready" ] && [ -z "$(kubectl -n "$NAMESPACE" get flocluster/flo -o jsonpath='{.status.operation.type}')" ] && return 0
    sleep 2
  done
  kubectl -n "$NAMESPACE" get flocluster/flo -o yaml >&2
  echo "kind.sh: the example did not settle on $want active brokers" >&2; exit 1
}

step "scale 1 → 3 while producing: the joiners catch up, every broker holds every event"
flo_pod 'for i in $(seq 1 50); do flo produce --url http://flo:3000 -n /kind/before -d "before $i" >/dev/null; done'
kubectl -n "$NAMESPACE" scale flocluster/flo --replicas=3
flo_pod 'for i in $(seq 1 50); do flo produce --url http://flo:3000 -n /kind/during-up -d "during $i" >/dev/null; done'
wait_brokers 3
kubectl -n "$NAMESPACE" get flocluster/flo -o wide
check_every_broker 101

step "rolling restart of 3 brokers (a template change), one at a time, nothing lost"
kubectl -n "$NAMESPACE" patch flocluster/flo --type=merge -p '{"spec":{"logLevel":"debug"}}'
flo_pod 'for i in $(seq 1 50); do flo produce --url http://flo:3000 -n /kind/during-roll -d "during $i" >/dev/null; done'
kubectl -n "$NAMESPACE" rollout status statefulset/flo --timeout="$TIMEOUT"
wait_brokers 3
kubectl -n "$NAMESPACE" get events --field-selector reason=RestartingBroker
check_every_broker 151

step "pod 0's volume lost (its claim deleted with it): it rejoins as a new member, nothing lost"
kubectl -n "$NAMESPACE" delete pvc data-flo-0 --wait=false
kubectl -n "$NAMESPACE" delete pod flo-0 --timeout="$TIMEOUT"
wait_brokers 3
kubectl -n "$NAMESPACE" logs flo-0 | grep -q 'joining as a new member' || { echo "kind.sh: flo-0 did not rejoin as a new member" >&2; exit 1; }
check_every_broker 151

step "scale 3 → 1: drained one broker at a time, nothing lost"
kubectl -n "$NAMESPACE" scale flocluster/flo --replicas=1
flo_pod 'for i in $(seq 1 50); do flo produce --url http://flo:3000 -n /kind/during-down -d "during $i" >/dev/null; done'
wait_brokers 1
check_every_broker 201

step "all checks passed"
