#!/usr/bin/env bash
# Install the Debian packages that the local cluster's real nodes and local images need.
# Needs root (apt-get). Idempotent and quick when everything is already installed.
#
#   node runtime   containerd, runc, containernetworking-plugins (bridge, portmap, loopback,
#                  host-local), iptables + conntrack (kube-proxy), iproute2 (network namespaces)
#   registry       docker-registry (distribution 2.8, the local OCI registry)
#   image build    buildah, debootstrap (hack/build-image.sh: the operator image without Docker)
#   image content  busybox, nginx-light, apache2 (the local busybox, nginx and httpd images
#                  are assembled from the files these packages install; their services are never
#                  started on this machine). busybox is the dynamically linked build, so its
#                  applets resolve users and hosts through the image's glibc and nsswitch.conf.
set -euo pipefail

PACKAGES=(
  containerd runc containernetworking-plugins iptables conntrack iproute2
  docker-registry
  busybox nginx-light apache2
  buildah debootstrap
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "install-node-packages: root is needed to install ${missing[*]} (apt-get)" >&2
  exit 1
fi

echo "[install-node-packages] installing ${missing[*]}" >&2
# A policy-rc.d that forbids service starts while these packages install: nginx, apache2,
# containerd and docker-registry must not start as host services (the local cluster runs its
# own instances inside the nodes' network namespaces). Removed again afterwards.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 0755 "$policy"
  own_policy=1
fi
cleanup() { [[ $own_policy == 1 ]] && rm -f "$policy"; return 0; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Nothing of these may keep running on the host (a package's postinst may start one anyway
# where no policy layer is consulted).
for svc in nginx apache2 containerd docker-registry; do
  pkill -x "$svc" 2>/dev/null || true
done
echo "[install-node-packages] done" >&2
