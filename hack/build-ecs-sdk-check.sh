#!/usr/bin/env bash
# Build hack/ecs-sdk-check (the AWS SDK for Go v2 client check of the ECS API endpoint), once
# per version of its sources: the binary lands in
# $ECS_OPERATOR_CACHE/ecs-sdk-check-<hash of go.mod, go.sum and main.go>/ecs-sdk-check
# (default cache ~/.cache/ecs-operator), nothing is written inside the repository. Modules come
# from the Go module proxy, pinned by go.sum. Prints the binary's path on stdout when done.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src="$here/ecs-sdk-check"
cache_root=${ECS_OPERATOR_CACHE:-$HOME/.cache/ecs-operator}
hash=$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-16)
dest="$cache_root/ecs-sdk-check-$hash"
bin="$dest/ecs-sdk-check"

# The machine's Go, as hack/build-bins.sh uses it; go.sum must already hold every module.
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
export CGO_ENABLED=0
export GOFLAGS="-mod=readonly -buildvcs=false"

if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/.build-ecs-sdk-check.lock"
flock 9
if [[ -x "$bin" ]]; then   # another process built it while we waited
  echo "$bin"
  exit 0
fi

work=$(mktemp -d "$cache_root/.ecs-sdk-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$src" && go build -trimpath -ldflags "-s -w" -o "$work/ecs-sdk-check" .)
rm -rf "$dest"
mv "$work" "$dest"
trap - EXIT
echo "[build-ecs-sdk-check] built $bin" >&2
echo "$bin"
