"""Real HTTP traffic during a service deployment, on real nodes: which revision answered each
request.

The service's container is busybox httpd serving a page that names its revision (env PAGE).
A client task (busybox, another real container) sends requests one after another to the
ClusterIP of the service's Service (the loadBalancers Service; kube-proxy on the real nodes
picks an endpoint per connection) and prints each answer; it stops by itself once it has seen
the target page ``STREAK`` times in a row. The test reads the answers from its log.

Without a router (no Gateway controller here) traffic follows task counts: while both
revisions' tasks run, both answer; once the old tasks are gone, only the new one does. Nothing
about time is asserted, only the order of the answers.
"""

from __future__ import annotations

import collections
import json

import pytest
from ecs_operator import constants

from ..cluster_fixtures import make_namespace, minute_scaled_operator
from ..integration.kube import wait_for
from ..integration.test_ecsservice import svc
from ..integration.test_ecstask import taskdef
from ..integration.test_taskdefinition import G, V, get, wait_ready
from .test_task_containers import BUSYBOX, run_task, sh, wait_status

#: The client stops after this many answers of the target page in a row.
STREAK = 150
#: ... or after this many requests in all (then it exits 1: the target never took over).
MAX_REQUESTS = 40000
#: Answers the client must have logged before the deployment starts.
BEFORE = 60
ERROR = "ERR"
#: The server starts this long after its container (a real application's start-up): a task
#: replacing another serves only then, so a rollout's steps last long enough for kube-proxy
#: to route to both revisions.
START_SECONDS = 4
#: Microseconds the client waits between requests (about 100 requests/s at most).
PAUSE_US = 10000


def web_container(page: str) -> dict:
    """busybox httpd on port 80 serving ``page`` after START_SECONDS; healthy once it answers
    (so a task serves traffic only when its server is up, as an ELB health check would have it)."""
    return {
        "name": "web",
        "image": BUSYBOX,
        "essential": True,
        "memory": 64,
        "environment": [{"name": "PAGE", "value": page}],
        "portMappings": [{"containerPort": 80, "protocol": "tcp"}],
        "command": sh(
            f'sleep {START_SECONDS}; mkdir -p /www && echo "$PAGE" > /www/index.html && exec httpd -f -p 80 -h /www'
        ),
        "healthCheck": {
            "command": ["CMD-SHELL", "wget -qO- http://127.0.0.1/ || exit 1"],
            "interval": 5,
            "timeout": 2,
            "retries": 1,
        },
    }


def set_page(custom, namespace: str, family: str, page: str) -> None:
    """Register the family's next revision: the same server, another page."""
    custom.patch_namespaced_custom_object(
        G, V, namespace, "taskdefinitions", family, {"spec": {"containerDefinitions": [web_container(page)]}}
    )


def create_service(custom, namespace: str, name: str, page: str, desired: int, **deployment) -> None:
    custom.create_namespaced_custom_object(G, V, namespace, "taskdefinitions", taskdef(name, web_container(page)))
    # generous: a kopf operator restricted to a namespace glob (the strategies' operator, tr-*)
    # started before any matching namespace existed served the first new one only ~60 s later
    # in CI (its namespace watch's relist), and serves nothing at all while none exists
    wait_ready(custom, namespace, "taskdefinitions", name, timeout=240)
    custom.create_namespaced_custom_object(
        G,
        V,
        namespace,
        "ecsservices",
        svc(
            name,
            name,
            desired,
            loadBalancers=[{"containerName": "web", "containerPort": 80}],
            deploymentConfiguration=deployment,
        ),
    )


def start_service(custom, namespace: str, name: str, page: str, desired: int, **deployment) -> None:
    create_service(custom, namespace, name, page, desired, **deployment)
    wait_ready(custom, namespace, "ecsservices", name, timeout=180)
    st = get(custom, namespace, "ecsservices", name)["status"]
    assert st["runningCount"] == desired, st


def start_client(custom, core, namespace: str, service: str, target: str, name: str = "client") -> None:
    """The client task: GET / on the Service's ClusterIP, one request after another, each
    answer (or ERR) on its own line, until ``target`` answered STREAK times in a row after
    another page (not an error) had answered."""
    ip = core.read_namespaced_service(service, namespace).spec.cluster_ip
    script = (
        f"n=0; i=0; other=0; while [ $i -lt {MAX_REQUESTS} ]; do "
        f'a=$(timeout 3 wget -qO- http://{ip}/ 2>/dev/null) || a={ERROR}; echo "$a"; usleep {PAUSE_US}; '
        f'if [ "$a" = "$TARGET" ]; then n=$((n+1)); else n=0; [ "$a" = {ERROR} ] || other=1; fi; '
        f"[ $other = 1 ] && [ $n -ge {STREAK} ] && exit 0; i=$((i+1)); done; exit 1"
    )
    run_task(
        custom,
        namespace,
        name,
        {
            "name": "client",
            "image": BUSYBOX,
            "essential": True,
            # hundreds of short-lived processes a second: 64 MiB got the client OOM-killed in CI
            "memory": 256,
            "environment": [{"name": "TARGET", "value": target}],
            "command": sh(script),
        },
    )


def answers(kubectl, namespace: str, name: str = "client") -> list[str]:
    out = kubectl("logs", "-n", namespace, f"{name}-0", "-c", "client", check=False).stdout or ""
    return [line.strip() for line in out.splitlines() if line.strip()]


def wait_answers(kubectl, namespace: str, count: int, name: str = "client") -> list[str]:
    return wait_for(
        lambda: (lambda a: a if len(a) >= count else None)(answers(kubectl, namespace, name)),
        timeout=180,
        desc=f"{count} answers logged by the client",
    )


def finished_answers(custom, kubectl, namespace: str, name: str = "client") -> list[str]:
    st = wait_status(custom, namespace, name, "STOPPED", timeout=900)
    got = answers(kubectl, namespace, name)
    assert st["tasks"][0]["containers"][0]["exitCode"] == 0, (
        f"the client never saw {STREAK} target answers in a row: {collections.Counter(got)}; {runs(got)[-2000:]}; {st}"
    )
    return got


def runs(got: list[str]) -> str:
    """The answers run-length encoded (``blue x60, green x1, ...``)."""
    out: list[str] = []
    for page in got:
        if out and out[-1][0] == page:
            out[-1][1] += 1
        else:
            out.append([page, 1])
    return ", ".join(f"{p} x{n}" for p, n in out)


def report(what: str, got: list[str], old: str, new: str) -> None:
    """Print the answers in phases: before the first ``new``, while both answered, after the last ``old``."""
    first_new = got.index(new)
    last_old = len(got) - 1 - got[::-1].index(old)
    print(
        f"\n{what}: {len(got)} requests; before the first {new}: {collections.Counter(got[:first_new])}; "
        f"mixed: {collections.Counter(got[first_new : last_old + 1])}; "
        f"after the last {old}: {collections.Counter(got[last_old + 1 :])}"
    )


def assert_shift(got: list[str], old: str, new: str, before: int) -> None:
    """Only ``old`` before the deployment; both while both revisions ran (an ``old`` answer after
    the first ``new`` one: no hard switch); only ``new`` at the end; never another page."""
    assert set(got) <= {old, new, ERROR}, collections.Counter(got)
    assert set(got[:before]) == {old}, collections.Counter(got[:before])
    assert new in got
    first_new = got.index(new)
    assert old in got[first_new:], f"both revisions answered while both ran: {runs(got)}"
    assert set(got[-STREAK:]) == {new}


def test_rolling_traffic_moves_from_the_old_revision_to_the_new_one(custom, core, kubectl, namespace, operator):
    """ROLLING (minimumHealthyPercent 100, maximumPercent 150 on 2 tasks: one new task at a
    time): mid-rollout both revisions answer, afterwards only the new one."""
    start_service(custom, namespace, "web", "blue", 2, maximumPercent=150, minimumHealthyPercent=100)
    start_client(custom, core, namespace, "web", "green")
    wait_answers(kubectl, namespace, BEFORE)
    set_page(custom, namespace, "web", "green")
    got = finished_answers(custom, kubectl, namespace)
    report("ROLLING", got, "blue", "green")
    assert_shift(got, "blue", "green", BEFORE)

    def steady():
        st = get(custom, namespace, "ecsservices", "web")["status"]
        return st if st.get("taskDefinition") == "web:2" and st.get("rolloutState") == "COMPLETED" else None

    wait_for(steady, timeout=120, desc="the service steady on web:2")


# -- BLUE_GREEN and CANARY ---------------------------------------------------------------------
# These run their own operator with ECS_OPERATOR_MINUTE_SECONDS=1 (an ECS minute lasts a second),
# serving only the namespaces ``tr-*``. The deployments stop where the test looks at the traffic
# (a PAUSE hook, a long canary bake time), so no wait depends on a duration.

PREFIX = "tr-"


@pytest.fixture(scope="module")
def strategy_operator(kubeconfig, crds, ecs_scheduler, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("traffic-operator") / "operator.log"
    with minute_scaled_operator(kubeconfig, ecs_scheduler, log_path, PREFIX) as proc:
        yield proc, log_path


@pytest.fixture
def tr_namespace(core, request, strategy_operator):
    assert strategy_operator[0].poll() is None, "the strategies' operator exited"
    yield from make_namespace(core, request, PREFIX)


def record_for(custom, namespace: str, task_definition: str) -> dict | None:
    for r in custom.list_namespaced_custom_object(G, V, namespace, "servicedeployments")["items"]:
        if ((r.get("status") or {}).get("targetServiceRevision") or {}).get("taskDefinition") == task_definition:
            return r
    return None


def wait_record(custom, namespace: str, task_definition: str, desc: str, check, timeout: float = 240) -> dict:
    return wait_for(
        lambda: (r := record_for(custom, namespace, task_definition)) and check(r["status"]) and r,
        timeout=timeout,
        desc=f"ServiceDeployment of {task_definition}: {desc}",
    )


def patch_record(kubectl, namespace: str, record: dict, spec: dict) -> None:
    """A request on the ServiceDeployment, the documented kubectl way."""
    kubectl("-n", namespace, "patch", "servicedeployment", record["metadata"]["name"], "--type", "merge",
            "-p", json.dumps({"spec": spec}))  # fmt: skip


def window(kubectl, namespace: str, count: int) -> list[str]:
    """The next ``count`` answers the client logs from now on."""
    start = len(answers(kubectl, namespace))
    return wait_answers(kubectl, namespace, start + count)[start : start + count]


def revision_pages(custom, core, kubectl, namespace: str, service: str) -> dict[str, set[str]]:
    """Each revision Service (``<service>-<revision>``, translate/service_traffic.py) asked 20
    times by a task: the pages it answered."""
    services = core.list_namespaced_service(
        namespace, label_selector=f"{constants.SERVICE}={service},{constants.SERVICE_REVISION}"
    ).items
    ips = {s.metadata.name: s.spec.cluster_ip for s in services}
    loop = "; ".join(
        f'for i in $(seq 20); do echo "{name} $(timeout 3 wget -qO- http://{ip}/ 2>/dev/null || echo {ERROR})"; done'
        for name, ip in ips.items()
    )
    run_task(custom, namespace, "probe", {"name": "client", "image": BUSYBOX, "essential": True, "command": sh(loop)})
    wait_status(custom, namespace, "probe", "STOPPED", timeout=180)
    pages: dict[str, set[str]] = {name: set() for name in ips}
    for line in answers(kubectl, namespace, "probe"):
        name, _, page = line.partition(" ")
        pages[name].add(page)
    return pages


def test_blue_green_both_revisions_answer_until_cleanup_then_only_green(
    custom, core, kubectl, tr_namespace, strategy_operator
):
    """BLUE_GREEN, held by a PAUSE hook after the production traffic shift: green runs at full
    size beside blue, each revision's own Service answers only its page, the HTTPRoute sends
    production traffic to green, and without a router the service's Service gets answers from
    both; after the hook is continued, CLEAN_UP removes blue and only green answers."""
    ns = tr_namespace
    hook = {"targetType": "PAUSE", "lifecycleStages": ["POST_PRODUCTION_TRAFFIC_SHIFT"]}
    create_service(custom, ns, "web", "blue", 2, strategy="BLUE_GREEN", bakeTimeInMinutes=0, lifecycleHooks=[hook])
    first = wait_record(custom, ns, "web:1", "paused", lambda st: st.get("awaitingHookId"))
    patch_record(kubectl, ns, first, {"continue": [{"hookId": first["status"]["awaitingHookId"]}]})
    wait_record(custom, ns, "web:1", "SUCCESSFUL", lambda st: st.get("status") == "SUCCESSFUL")
    start_client(custom, core, ns, "web", "green")
    wait_answers(kubectl, ns, BEFORE)
    set_page(custom, ns, "web", "green")

    paused = wait_record(custom, ns, "web:2", "paused after the production shift", lambda st: st.get("awaitingHookId"))
    assert paused["status"]["lifecycleStage"] == "POST_PRODUCTION_TRAFFIC_SHIFT"
    both = window(kubectl, ns, 200)
    print(f"\nBLUE_GREEN paused with both revisions running: {collections.Counter(both)}")
    assert {"blue", "green"} <= set(both), "without a router both revisions answer while both run"
    pages = revision_pages(custom, core, kubectl, ns, "web")
    print(f"revision Services: {pages}")
    assert sorted(map(sorted, pages.values())) == [["blue"], ["green"]], pages
    route = json.loads(kubectl("-n", ns, "get", "httproute", "web", "-o", "json").stdout)
    production = next(r for r in route["spec"]["rules"] if r["name"] == "production")
    green_service = next(n for n, p in pages.items() if p == {"green"})
    assert {b["name"]: b["weight"] for b in production["backendRefs"]}[green_service] == 100

    patch_record(kubectl, ns, paused, {"continue": [{"hookId": paused["status"]["awaitingHookId"]}]})
    got = finished_answers(custom, kubectl, ns)
    report("BLUE_GREEN", got, "blue", "green")
    assert_shift(got, "blue", "green", BEFORE)
    wait_record(custom, ns, "web:2", "SUCCESSFUL", lambda st: st.get("status") == "SUCCESSFUL")


def test_canary_rollback_returns_traffic_to_blue_only(custom, core, kubectl, tr_namespace, strategy_operator):
    """CANARY 10 % with a long canary bake time: both revisions answer during the canary (no
    router: by task counts, green at full size); StopServiceDeployment ROLLBACK (kubectl patch of
    the ServiceDeployment) removes green, and only blue answers again."""
    ns = tr_namespace
    canary = {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 600}
    create_service(custom, ns, "web", "blue", 2, strategy="CANARY", bakeTimeInMinutes=0, canaryConfiguration=canary)
    wait_record(custom, ns, "web:1", "SUCCESSFUL", lambda st: st.get("status") == "SUCCESSFUL")
    start_client(custom, core, ns, "web", "blue")
    wait_answers(kubectl, ns, BEFORE)
    set_page(custom, ns, "web", "green")

    rec = wait_record(
        custom, ns, "web:2", "canary phase", lambda st: st.get("lifecycleStage") == "PRODUCTION_TRAFFIC_SHIFT"
    )
    assert rec["status"]["targetServiceRevision"]["requestedProductionTrafficWeight"] == 10.0
    both = window(kubectl, ns, 200)
    print(f"\nCANARY with both revisions running: {collections.Counter(both)}")
    assert {"blue", "green"} <= set(both), "without a router both revisions answer while both run"

    patch_record(kubectl, ns, rec, {"stop": {"stopType": "ROLLBACK"}})
    got = finished_answers(custom, kubectl, ns)
    report("CANARY rollback", got, "green", "blue")
    assert set(got) <= {"blue", "green", ERROR}, collections.Counter(got)
    assert set(got[:BEFORE]) == {"blue"}
    assert "green" in got, "green answered during the canary"
    assert set(got[-STREAK:]) == {"blue"}, "after the rollback only blue answers"
    wait_record(custom, ns, "web:2", "ROLLBACK_SUCCESSFUL", lambda st: st.get("status") == "ROLLBACK_SUCCESSFUL")
