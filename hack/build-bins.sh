#!/usr/bin/env bash
# Build the local control plane's binaries from Go modules, once per machine.
#
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl  (k8s.io/kubernetes, via hack/k8s)
#   kubelet, kube-proxy (the real nodes)                              (k8s.io/kubernetes, via hack/k8s)
#   coredns (cluster DNS on the real nodes)                           (github.com/coredns/coredns)
#   etcd                                                              (go.etcd.io/etcd/server/v3, via hack/etcd)
#   kwok, kwokctl                                                     (sigs.k8s.io/kwok)
#   helm                                                              (helm.sh/helm/v3)
#
# The binaries land in $ECS_OPERATOR_CACHE/<versions>/bin (default ~/.cache/ecs-operator),
# keyed by every version below, so bumping one rebuilds into a fresh folder. Nothing is
# written inside the repository. Prints the bin folder on stdout when done.
set -euo pipefail

K8S_VERSION=v1.36.3
STAGING_VERSION=v0.36.3   # must match the replace block in hack/k8s/go.mod
ETCD_VERSION=v3.6.16      # must match hack/etcd/go.mod
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.22.0
COREDNS_VERSION=v1.15.0

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${ECS_OPERATOR_CACHE:-$HOME/.cache/ecs-operator}
key="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_helm-${HELM_VERSION}_coredns-${COREDNS_VERSION}"
dest="$cache_root/$key"
bin="$dest/bin"

# Use the machine's Go (1.26 serves every go.mod here); never reach for a download site.
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
export CGO_ENABLED=0
export GOFLAGS="-mod=mod -buildvcs=false"

if [[ -f "$dest/.complete" ]]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/.build.lock"
flock 9
if [[ -f "$dest/.complete" ]]; then   # another process built it while we waited
  echo "$bin"
  exit 0
fi

log() { echo "[build-bins $(date +%H:%M:%S)] $*" >&2; }
start=$(date +%s)
work=$(mktemp -d "$cache_root/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"

build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
vpkg=k8s.io/component-base/version
cpkg=k8s.io/client-go/pkg/version
ldflags="-s -w"
for p in $vpkg $cpkg; do
  ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=$build_date"
done

log "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy $K8S_VERSION"
(cd "$here/k8s" && go build -trimpath -ldflags "$ldflags" -o "$work/bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl \
  k8s.io/kubernetes/cmd/kubelet \
  k8s.io/kubernetes/cmd/kube-proxy)

log "building etcd $ETCD_VERSION"
(cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$work/bin/etcd" .)

log "building kwok, kwokctl $KWOK_VERSION"
kwok_ld="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${K8S_VERSION#v}"
GOBIN="$work/bin" go install -trimpath -ldflags "$kwok_ld" \
  "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"

log "building helm $HELM_VERSION"
GOBIN="$work/bin" go install -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
  "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"

log "building coredns $COREDNS_VERSION"
GOBIN="$work/bin" go install -trimpath \
  -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=${COREDNS_VERSION}" \
  "github.com/coredns/coredns@$COREDNS_VERSION"

rm -rf "$dest"
mv "$work" "$dest"
trap - EXIT
echo "built in $(( $(date +%s) - start ))s: $key" > "$dest/.complete"
log "done in $(( $(date +%s) - start ))s -> $bin"
echo "$bin"
