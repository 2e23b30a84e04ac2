"""dev/gateway_api.py: which CRDs the local cluster gets, from where, and only once."""

from __future__ import annotations

import json
import subprocess

import pytest
from ecs_operator.dev import gateway_api as g


class FakeKubectl:
    def __init__(self, installed: str | None):
        self.installed = installed
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        self.calls.append(args)
        if args[:2] == ("get", "crd"):
            if self.installed is None:
                return subprocess.CompletedProcess(args, 1, "", "NotFound")
            body = {"metadata": {"annotations": {g.BUNDLE_VERSION: self.installed}}}
            return subprocess.CompletedProcess(args, 0, json.dumps(body), "")
        return subprocess.CompletedProcess(args, 0, "", "")


@pytest.mark.parametrize(
    "installed, applied",
    [(None, True), ("v1.2.0", True), (g.VERSION, False)],
)
def test_install_applies_the_pinned_crds_unless_that_version_is_there(installed, applied, tmp_path, monkeypatch):
    monkeypatch.setenv("ECS_OPERATOR_GATEWAY_API_DIR", str(tmp_path))
    kubectl = FakeKubectl(installed)
    assert g.install(kubectl, log=lambda m: None) is applied
    verbs = [c[0] for c in kubectl.calls]
    assert verbs == (["get", "apply", "wait"] if applied else ["get"])
    if applied:
        files = [a for a in kubectl.calls[1] if a.endswith(".yaml")]
        assert files == [str(tmp_path / f) for f in g.CRD_FILES]
        assert "--server-side" in kubectl.calls[1]


def test_the_standard_channel_kinds_the_operator_needs_are_installed():
    kinds = {f.split("_")[1].removesuffix(".yaml") for f in g.CRD_FILES}
    assert {"gatewayclasses", "gateways", "httproutes"} <= kinds
    assert g.HTTPROUTES_CRD == "httproutes.gateway.networking.k8s.io"


def test_a_cached_download_is_reused(tmp_path, monkeypatch):
    monkeypatch.delenv("ECS_OPERATOR_GATEWAY_API_DIR", raising=False)
    monkeypatch.setenv("ECS_OPERATOR_CACHE", str(tmp_path))
    dest = tmp_path / f"gateway-api-{g.VERSION}"
    dest.mkdir()
    (dest / ".complete").write_text("done\n")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("downloaded again"))
    assert g.crds_dir() == dest


def test_a_failed_download_names_the_module(tmp_path, monkeypatch):
    monkeypatch.delenv("ECS_OPERATOR_GATEWAY_API_DIR", raising=False)
    monkeypatch.setenv("ECS_OPERATOR_CACHE", str(tmp_path))
    out = json.dumps({"Path": g.MODULE, "Version": "v9.9.9", "Error": "unknown revision v9.9.9"})
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, out, ""))
    with pytest.raises(g.GatewayApiError, match="sigs.k8s.io/gateway-api@v9.9.9 failed: unknown revision"):
        g.crds_dir("v9.9.9")
