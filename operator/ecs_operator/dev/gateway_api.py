"""Gateway API CRDs for the local cluster, from the Go module ``sigs.k8s.io/gateway-api``.

The standard channel's GatewayClass, Gateway, HTTPRoute and ReferenceGrant CRDs are fetched once
per machine through the Go module proxy (``go mod download``) and kept under
``$ECS_OPERATOR_CACHE/gateway-api-<version>/``; :func:`install` applies them (server-side) when
the local cluster comes up, unless that version is already installed. Only the CRDs: there is no
Gateway controller in the local cluster, so an HTTPRoute is stored and validated but routes nothing.

``ECS_OPERATOR_GATEWAY_API_DIR`` names a folder holding the CRD files instead (no Go needed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

MODULE = "sigs.k8s.io/gateway-api"
#: The newest release the machine's Go (1.26) can download (v1.7 requires Go 1.27).
VERSION = "v1.6.3"
#: The standard channel CRDs the local cluster gets (the operator uses HTTPRoute; a Gateway and
#: its class are what a route attaches to; ReferenceGrant allows a route to a Gateway elsewhere).
CRD_FILES = (
    "gateway.networking.k8s.io_gatewayclasses.yaml",
    "gateway.networking.k8s.io_gateways.yaml",
    "gateway.networking.k8s.io_httproutes.yaml",
    "gateway.networking.k8s.io_referencegrants.yaml",
)
HTTPROUTES_CRD = "httproutes.gateway.networking.k8s.io"
#: The annotation Gateway API puts on its CRDs naming the release.
BUNDLE_VERSION = "gateway.networking.k8s.io/bundle-version"


class GatewayApiError(RuntimeError):
    """The Gateway API CRDs could not be fetched or installed."""


def _cache_root() -> Path:
    return Path(os.environ.get("ECS_OPERATOR_CACHE", Path.home() / ".cache" / "ecs-operator"))


def crds_dir(version: str = VERSION) -> Path:
    """The folder with the CRD files: ``ECS_OPERATOR_GATEWAY_API_DIR``, or the cache, fetched on first use."""
    explicit = os.environ.get("ECS_OPERATOR_GATEWAY_API_DIR")
    if explicit:
        return Path(explicit)
    dest = _cache_root() / f"gateway-api-{version}"
    if (dest / ".complete").is_file():
        return dest
    env = dict(os.environ, GOFLAGS="-mod=mod", GOTOOLCHAIN=os.environ.get("GOTOOLCHAIN", "local"))
    with tempfile.TemporaryDirectory() as cwd:  # outside any Go module
        try:
            proc = subprocess.run(
                ["go", "mod", "download", "-json", f"{MODULE}@{version}"],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise GatewayApiError(f"go mod download {MODULE}@{version}: {e}") from e
    try:
        info = json.loads(proc.stdout)
    except json.JSONDecodeError:
        info = {}
    if proc.returncode != 0 or info.get("Error") or not info.get("Dir"):
        raise GatewayApiError(
            f"go mod download {MODULE}@{version} failed: {info.get('Error') or proc.stderr.strip() or proc.returncode}"
        )
    source = Path(info["Dir"]) / "config" / "crd" / "standard"
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".gateway-api.", dir=dest.parent))
    try:
        for name in CRD_FILES:
            shutil.copyfile(source / name, work / name)  # copyfile: the module cache is read-only
        (work / ".complete").write_text(f"{MODULE}@{version}\n")
        shutil.rmtree(dest, ignore_errors=True)
        work.rename(dest)
    except OSError as e:
        shutil.rmtree(work, ignore_errors=True)
        if (dest / ".complete").is_file():  # another process finished first
            return dest
        raise GatewayApiError(f"cannot copy the Gateway API CRDs from {source}: {e}") from e
    return dest


def installed_version(kubectl: Callable[..., subprocess.CompletedProcess[str]]) -> str | None:
    """The bundle version of the cluster's HTTPRoute CRD, or None when it has none."""
    proc = kubectl("get", "crd", HTTPROUTES_CRD, "-o", "json", check=False)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout).get("metadata", {}).get("annotations", {}).get(BUNDLE_VERSION)


def install(kubectl: Callable[..., subprocess.CompletedProcess[str]], version: str = VERSION, log=print) -> bool:
    """Apply the CRDs (server-side) and wait until they are Established; nothing when that version
    is installed. ``kubectl(*args, check=...)`` runs the cluster's kubectl. True when applied."""
    if installed_version(kubectl) == version:
        return False
    folder = crds_dir(version)
    files = [str(folder / name) for name in CRD_FILES]
    log(f"installing the Gateway API {version} CRDs (GatewayClass, Gateway, HTTPRoute, ReferenceGrant)")
    args = [a for f in files for a in ("-f", f)]
    kubectl("apply", "--server-side", "--force-conflicts", "--field-manager", "ecs-operator-dev", *args)
    kubectl("wait", "--for=condition=Established", "--timeout=60s", *args)
    return True
