"""The operator's /metrics on the real control plane: an operator run with --metrics-port
reconciles a TaskDefinition and an ECSService, and its scrape shows the reconcile histograms of
both kinds and the API requests it made, by verb and status code (docs/metrics.md)."""

from __future__ import annotations

import re
import urllib.request

import kubernetes
import pytest

from .conftest import _free_port, make_namespace, run_operator
from .kube import wait_for
from .test_ecsservice import svc
from .test_taskdefinition import G, V, td, wait_ready

# Namespaces of this test's own operator: neither the session operator's (t-*) nor the chart's (c-*).
PREFIX = "m-"
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$")


@pytest.fixture
def metrics_namespace(core, request):
    yield from make_namespace(core, request, PREFIX)


def scrape(port: int) -> dict[str, float]:
    """``series -> value`` of one scrape; checks the HELP/TYPE lines precede each family."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    samples: dict[str, float] = {}
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, line
        name = m.group(1)
        assert name in typed or re.sub(r"_(bucket|sum|count)$", "", name) in typed, line
        samples[name + (m.group(2) or "")] = float(m.group(3))
    return samples


def _total(samples: dict[str, float], prefix: str, **labels: str) -> float:
    want = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(v for s, v in samples.items() if s.startswith(prefix + "{") and all(w in s for w in want))


def test_metrics_show_reconciles_and_api_requests(kubeconfig, crds, ecs_scheduler, custom, metrics_namespace, tmp_path):
    ns, port = metrics_namespace, _free_port()
    scheduler = ecs_scheduler.name if ecs_scheduler is not None else ""
    with run_operator(
        kubeconfig, tmp_path / "operator.log", namespaces=(f"{PREFIX}*",), scheduler_name=scheduler, metrics_port=port
    ):
        before = scrape(port)

        custom.create_namespaced_custom_object(G, V, ns, "taskdefinitions", td("web"))
        custom.create_namespaced_custom_object(G, V, ns, "ecsservices", svc("web", "web", 2))
        wait_ready(custom, ns, "taskdefinitions", "web")
        wait_ready(custom, ns, "ecsservices", "web", timeout=90)
        samples = scrape(port)

        # the service goes while its operator runs (its finalizer would keep the namespace)
        custom.delete_namespaced_custom_object(G, V, ns, "ecsservices", "web")

        def gone():
            try:
                custom.get_namespaced_custom_object(G, V, ns, "ecsservices", "web")
            except kubernetes.client.ApiException as e:
                return e.status == 404
            return False

        wait_for(gone, timeout=90, desc="ECSService web deleted")

    print("\n".join(f"{k} {v:g}" for k, v in samples.items() if not k.endswith("_bucket") and "le=" not in k))
    assert "ecs_operator_refresh_queue_depth" in samples and "ecs_operator_handler_queue_depth" in samples
    reconcile = "ecs_operator_reconcile_duration_seconds"
    for kind, handler in (("TaskDefinition", "taskdefinition_changed"), ("ECSService", "service_changed")):
        labels = f'kind="{kind}",handler="{handler}",outcome="success"'
        count = samples[f"{reconcile}_count{{{labels}}}"]
        assert count >= 1, kind
        assert samples[f'{reconcile}_bucket{{{labels},le="+Inf"}}'] == count
        assert samples[f'{reconcile}_bucket{{{labels},le="60.0"}}'] <= count
        assert samples[f"{reconcile}_sum{{{labels}}}"] > 0
    # the service's status refreshes as its tasks started
    assert _total(samples, f"{reconcile}_count", kind="ECSService", handler="status_refresh") >= 1

    api = "ecs_operator_api_requests_total"
    for verb, code in (("create", "201"), ("dry_run", "201"), ("apply", "200"), ("patch", "200"), ("list", "200")):
        assert samples.get(f'{api}{{verb="{verb}",code="{code}"}}', 0) >= 1, (verb, code)
    assert _total(samples, api) > _total(before, api)
    assert _total(samples, "ecs_operator_api_request_duration_seconds_count", verb="apply") >= 1
