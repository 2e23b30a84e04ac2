#!/usr/bin/env bash
# Build the operator image from the repository's Dockerfile, the same one users `docker build`,
# without a Docker daemon: buildah (Debian's package) runs the Dockerfile as it is, as root, with
# chroot isolation (no daemon, no runc or user namespaces needed on this cgroup-v1 host).
#
#   hack/build-image.sh [--tag TAG] [--push HOST:PORT]
#
# The Dockerfile's base (build argument PYTHON_IMAGE, python:3.11-slim-bookworm) cannot be pulled
# on machines without a container registry. Unless PYTHON_IMAGE names an image that can be, the
# build uses a stand-in made here from Debian packages (debootstrap minbase + python3 +
# python3-venv, with `python` on PATH like the official image), for the local build only. It is
# cached in buildah's storage as localhost/ecs-operator-python-standin:3.11-slim-bookworm.
#
# Network: pip inside the build reaches PyPI through the host's network; the host's CA bundle and
# pip.conf are mounted for the RUN steps (a TLS-intercepting proxy's CA), never copied into the image.
# Prints the image reference on stdout. Needs root (buildah, debootstrap).
set -euo pipefail

TAG=0.1.0
PUSH=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --tag) TAG=$2; shift 2 ;;
    --push) PUSH=$2; shift 2 ;;
    *) echo "usage: $0 [--tag TAG] [--push HOST:PORT]" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
log() { echo "[build-image $(date +%H:%M:%S)] $*" >&2; }
IMAGE=localhost/ecs-operator:$TAG
STANDIN=localhost/ecs-operator-python-standin:3.11-slim-bookworm

for tool in buildah debootstrap; do
  if ! command -v $tool >/dev/null; then
    [[ $(id -u) -eq 0 ]] || { echo "build-image: $tool is missing (root installs it)" >&2; exit 1; }
    log "installing $tool (Debian)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah debootstrap >/dev/null
  fi
done

# The Debian mirror this machine's apt uses (deb822 sources, else the one-line format).
debian_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    uri=$(awk '/^URIs:/ {u=$2} /^Suites:/ && /bookworm( |$)/ {print u; exit}' "$f")
    [[ -n $uri ]] && { echo "$uri"; return; }
  done
  awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
}

base=${PYTHON_IMAGE:-}
if [[ -z $base ]]; then
  base=$STANDIN
  if ! buildah inspect --type image "$STANDIN" >/dev/null 2>&1; then
    mirror=$(debian_mirror)
    [[ -n $mirror ]] || { echo "build-image: no Debian bookworm mirror in the apt sources" >&2; exit 1; }
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    log "building the stand-in base $STANDIN (debootstrap minbase + python3, python3-venv)"
    debootstrap --variant=minbase --include=python3,python3-venv bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
      || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
    rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/* \
           "$work"/rootfs/usr/share/doc/* "$work"/rootfs/usr/share/man/* "$work"/rootfs/usr/share/locale/*
    ln -sf python3 "$work/rootfs/usr/bin/python"
    tar -C "$work/rootfs" --numeric-owner -cf "$work/rootfs.tar" .
    ctr=$(buildah from scratch)
    buildah add "$ctr" "$work/rootfs.tar" / >/dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 \
      --cmd python3 --label org.opencontainers.image.description="stand-in for python:3.11-slim-bookworm (Debian packages)" "$ctr"
    buildah commit -q "$ctr" "$STANDIN" >/dev/null
    buildah rm "$ctr" >/dev/null
    rm -rf "$work"; trap - EXIT
  fi
fi

mounts=()
for f in /etc/ssl/certs/ca-certificates.crt /etc/pip.conf; do
  [[ -f $f ]] && mounts+=(--volume "$f:$f:ro")
done
start=$(date +%s)
log "building $IMAGE from Dockerfile (PYTHON_IMAGE=$base)"
buildah bud --quiet --isolation chroot --network host --layers "${mounts[@]}" \
  --build-arg "PYTHON_IMAGE=$base" -t "$IMAGE" -f "$root/Dockerfile" "$root" >/dev/null
user=$(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$IMAGE")
log "built $IMAGE in $(( $(date +%s) - start ))s: $(buildah images --format '{{.Size}}' "$IMAGE"), runs as $user"
if [[ -n $PUSH ]]; then
  buildah push --quiet --tls-verify=false "$IMAGE" "docker://$PUSH/ecs-operator:$TAG" >/dev/null
  log "pushed $PUSH/ecs-operator:$TAG"
fi
echo "$IMAGE"
