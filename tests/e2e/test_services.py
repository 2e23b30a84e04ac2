"""Services on real containers: traffic through a bridge-mode host port and through the
Service of a REPLICA service's loadBalancers (resolved by cluster DNS from another task),
health checks run by the kubelet inside the container, and the circuit breaker rolling back
a deployment whose tasks never become healthy."""

from __future__ import annotations

import urllib.request

from ..integration.kube import wait_for
from ..integration.test_ecsservice import running_pods, svc
from ..integration.test_taskdefinition import G, V, get, wait_ready
from .test_task_containers import BUSYBOX, run_task, sh, stop_task, wait_status

NGINX = "nginx:1.27"


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.read().decode()
    except OSError:
        return None


def test_a_bridge_mode_host_port_answers_on_the_node(custom, core, namespace, operator):
    run_task(
        custom,
        namespace,
        "hostport",
        {
            "name": "web",
            "image": NGINX,
            "essential": True,
            "memory": 128,
            "portMappings": [{"containerPort": 80, "hostPort": 8081, "protocol": "tcp"}],
        },
        networkMode="bridge",
    )
    wait_status(custom, namespace, "hostport", "RUNNING", timeout=120)
    node_ip = core.read_namespaced_pod("hostport-0", namespace).status.host_ip
    body = wait_for(lambda: fetch(f"http://{node_ip}:8081/"), timeout=30, desc=f"http://{node_ip}:8081/")
    assert "Welcome to nginx!" in body
    stop_task(custom, namespace, "hostport")
    wait_status(custom, namespace, "hostport", "STOPPED", timeout=60)


def test_the_example_service_answers_http_through_its_service_dns_name(
    custom, core, kubectl, repo, namespace, operator
):
    """examples/webserver.yaml as a user applies it: real httpd, its health check run inside
    the container, three tasks reaching steady state; another task fetches the page by the
    Service's DNS name (CoreDNS + kube-proxy on the real nodes)."""
    kubectl("apply", "-n", namespace, "-f", str(repo / "examples" / "webserver.yaml"))
    kubectl("wait", "-n", namespace, "--for=condition=Ready", "--timeout=180s", "ecsservice/webserver")
    st = get(custom, namespace, "ecsservices", "webserver")["status"]
    assert (st["runningCount"], st["rolloutState"]) == (3, "COMPLETED")
    pods = running_pods(core, namespace, "webserver")
    assert len(pods) == 3 and all(p.status.container_statuses[0].ready for p in pods), "health checks pass"
    assert {p.spec.node_name for p in pods} <= {n.metadata.name for n in core.list_node().items}
    url = f"http://webserver.{namespace}.svc.cluster.local/"
    run_task(
        custom,
        namespace,
        "client",
        {
            "name": "client",
            "image": BUSYBOX,
            "essential": True,
            "command": sh(f"for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- {url} && exit 0; sleep 2; done; exit 1"),
        },
    )
    st = wait_status(custom, namespace, "client", "STOPPED", timeout=120)
    assert st["tasks"][0]["containers"][0]["exitCode"] == 0, st
    page = kubectl("logs", "-n", namespace, "client-0", "-c", "client").stdout
    assert "Amazon ECS Sample App" in page


def test_a_deployment_whose_health_check_never_passes_is_rolled_back(custom, apps, core, namespace, operator):
    """Revision 2's CMD-SHELL health check fails inside the container: its tasks are
    UNHEALTHY, the kubelet replaces them, and the circuit breaker rolls back to revision 1."""
    healthy = {
        "command": ["CMD-SHELL", "test -f /usr/share/nginx/html/index.html"],
        "interval": 5,
        "timeout": 2,
        "retries": 1,
    }
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "taskdefinitions",
        {
            "apiVersion": f"{G}/{V}",
            "kind": "TaskDefinition",
            "metadata": {"name": "hc"},
            "spec": {
                "family": "hc",
                "containerDefinitions": [{"name": "web", "image": NGINX, "memory": 128, "healthCheck": healthy}],
            },
        },
    )
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "ecsservices",
        svc(
            "hc",
            "hc",
            1,
            deploymentConfiguration={
                "maximumPercent": 200,
                "minimumHealthyPercent": 100,
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            },
        ),
    )
    wait_ready(custom, namespace, "ecsservices", "hc", timeout=120)

    custom.patch_namespaced_custom_object(
        G,
        V,
        namespace,
        "taskdefinitions",
        "hc",
        {
            "spec": {
                "containerDefinitions": [
                    {
                        "name": "web",
                        "image": NGINX,
                        "memory": 128,
                        "healthCheck": {**healthy, "command": ["CMD-SHELL", "test -f /does-not-exist"]},
                    }
                ]
            }
        },
    )

    def unhealthy_restarted():
        pods = [
            p
            for p in core.list_namespaced_pod(namespace, label_selector="ecs.seed.dev/service=hc").items
            if p.metadata.labels.get("ecs.seed.dev/revision") == "2"
        ]
        return any(
            (p.status.container_statuses or [None])[0] and p.status.container_statuses[0].restart_count > 0
            for p in pods
        )

    wait_for(unhealthy_restarted, timeout=120, desc="an unhealthy revision-2 task replaced by the kubelet")

    def rolled_back():
        st = get(custom, namespace, "ecsservices", "hc")["status"]
        return (
            st
            if (
                st.get("rolledBackTaskDefinition") == "hc:2"
                and st.get("taskDefinition") == "hc:1"
                and st.get("rolloutState") == "COMPLETED"
                and st.get("runningCount") == 1
            )
            else None
        )

    st = wait_for(rolled_back, timeout=300, desc="circuit breaker rollback to hc:1")
    assert any("rolling back to deployment of hc:1" in e["message"] for e in st["events"])
    wait_for(
        lambda: [p.metadata.labels.get("ecs.seed.dev/revision") for p in running_pods(core, namespace, "hc")] == ["1"],
        timeout=120,
        desc="only revision 1 tasks left",
    )
