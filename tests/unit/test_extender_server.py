"""The scheduler extender protocol over HTTP (loopback, in-process) and the cluster views."""

from __future__ import annotations

import http.client
import json
import threading

import pytest
from ecs_operator.cli import build_parser
from ecs_operator.extender.server import make_server
from ecs_operator.extender.synthetic import node, pod
from ecs_operator.extender.verbs import Extender
from ecs_operator.extender.view import InMemoryClusterView
from hypothesis import given, settings
from hypothesis import strategies as st

NODES = [
    node("a0", zone="us-east-1a", instance_type="t2.small"),
    node("a1", zone="us-east-1a"),
    node("b0", zone="us-east-1b", instance_type="t2.small"),
    node("c0", zone="us-east-1c"),
    node("cordoned", zone="us-east-1c", unschedulable=True),
]
PODS = [
    pod("w1", node="a0", service="web"),
    pod("w2", node="a1", service="web"),
    pod("w3", node="b0", service="web"),
    pod("sys", node="c0", namespace="kube-system"),
]


@pytest.fixture()
def view():
    return InMemoryClusterView(NODES, PODS)


@pytest.fixture()
def server(view):
    srv = make_server(view, "127.0.0.1", 0)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    t.join(5)


def call(srv, method, path, body=None, raw=None):
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=10)
    try:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        payload = resp.read()
        ctype = resp.getheader("Content-Type", "")
        return resp.status, (json.loads(payload) if "json" in ctype else payload.decode())
    finally:
        conn.close()


NAMES = ["a0", "a1", "b0", "c0", "cordoned"]
DISTINCT_T2 = [{"type": "distinctInstance"}, {"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t2.*"}]


def test_filter_node_names_form(server):
    p = pod(
        "w4", service="web", constraints=[{"type": "memberOf", "expression": "attribute:ecs.instance-type != t2.small"}]
    )
    status, body = call(server, "POST", "/filter", {"Pod": p, "NodeNames": NAMES})
    assert status == 200
    assert set(body) == {"Nodes", "NodeNames", "FailedNodes", "FailedAndUnresolvableNodes", "Error"}
    assert body["Nodes"] is None and body["Error"] == ""
    assert body["NodeNames"] == ["a1", "c0"]
    assert body["FailedNodes"] == {}
    assert set(body["FailedAndUnresolvableNodes"]) == {"a0", "b0", "cordoned"}
    assert "DRAINING" in body["FailedAndUnresolvableNodes"]["cordoned"]


def test_filter_nodes_form_returns_node_objects(server):
    p = pod("w4", service="web", constraints=DISTINCT_T2)
    status, body = call(server, "POST", "/filter", {"Pod": p, "Nodes": {"items": NODES}})
    assert status == 200 and body["NodeNames"] is None and body["Error"] == ""
    assert body["Nodes"]["kind"] == "NodeList"
    assert body["Nodes"]["items"] == []  # every t2 runs a web task already
    assert set(body["FailedNodes"]) == {"a0", "b0"}
    assert "distinctInstance" in body["FailedNodes"]["a0"]
    # a1 runs a web task too, but it is no t2: preemption would not help
    assert set(body["FailedAndUnresolvableNodes"]) == {"a1", "c0", "cordoned"}
    assert "memberOf" in body["FailedAndUnresolvableNodes"]["a1"]
    q = pod("o1", service="other", constraints=DISTINCT_T2)
    _, body = call(server, "POST", "/filter", {"Pod": q, "Nodes": {"items": NODES}})
    assert [n["metadata"]["name"] for n in body["Nodes"]["items"]] == ["a0", "b0"]
    assert body["Nodes"]["items"][0] == NODES[0]


def test_keys_are_case_insensitive(server):
    p = pod("o1", service="other", constraints=DISTINCT_T2)
    _, upper = call(server, "POST", "/filter", {"Pod": p, "NodeNames": NAMES})
    _, lower = call(server, "POST", "/filter", {"pod": p, "nodenames": NAMES})
    _, mixed = call(server, "POST", "/filter", {"POD": p, "Nodes": {"Items": NODES}})
    assert upper["NodeNames"] == lower["NodeNames"] == ["a0", "b0"]
    assert [n["metadata"]["name"] for n in mixed["Nodes"]["items"]] == ["a0", "b0"]


def test_filter_invalid_annotation_fails_every_node_with_error(server):
    p = pod("bad", service="web", constraints=[{"type": "memberOf", "expression": "runningTasksCount == 1 xx"}])
    status, body = call(server, "POST", "/filter", {"Pod": p, "NodeNames": NAMES})
    assert status == 200
    assert body["NodeNames"] == []
    assert set(body["FailedAndUnresolvableNodes"]) == set(NAMES)
    assert "ecs.seed.dev/placement-constraints[0].expression" in body["Error"]
    assert "unexpected token 'xx' at column 24" in body["Error"]
    assert body["FailedAndUnresolvableNodes"]["a0"] == body["Error"]
    q = pod("bad2", service="web", strategy="{nope")
    _, body = call(server, "POST", "/filter", {"Pod": q, "Nodes": {"items": NODES}})
    assert body["Nodes"]["items"] == [] and "ecs.seed.dev/placement-strategy" in body["Error"]


def test_filter_unmanaged_pod_passes_everything(server):
    status, body = call(server, "POST", "/filter", {"Pod": pod("plain"), "NodeNames": NAMES + ["new"]})
    assert body["NodeNames"] == NAMES + ["new"] and body["FailedNodes"] == {} and body["Error"] == ""


def test_filter_unknown_node_names_fail_resolvably(server):
    _, body = call(server, "POST", "/filter", {"Pod": pod("w", service="web"), "NodeNames": ["a0", "ghost"]})
    assert body["NodeNames"] == ["a0"] and "not yet known" in body["FailedNodes"]["ghost"]


def test_prioritize_node_names_and_nodes_forms(server):
    p = pod("w4", service="web")  # service default: spread zone, then instance
    status, body = call(server, "POST", "/prioritize", {"Pod": p, "NodeNames": ["a0", "a1", "b0", "c0"]})
    assert status == 200
    assert body == [
        {"Host": "a0", "Score": 8},
        {"Host": "a1", "Score": 8},
        {"Host": "b0", "Score": 9},
        {"Host": "c0", "Score": 10},
    ]
    _, body2 = call(server, "POST", "/prioritize", {"Pod": p, "Nodes": {"items": NODES[:4]}})
    assert body2 == body
    for h in body:
        assert set(h) == {"Host", "Score"} and 0 <= h["Score"] <= 10


def test_prioritize_binpack_and_unmanaged(server):
    p = pod("t", task_family="f", memory="1Gi", strategy=[{"type": "binpack", "field": "memory"}])
    _, body = call(server, "POST", "/prioritize", {"Pod": p, "NodeNames": ["a0", "c0"]})
    assert max(body, key=lambda h: h["Score"])["Host"] == "a0"  # t2.small has the least memory left
    _, body = call(server, "POST", "/prioritize", {"Pod": pod("plain"), "NodeNames": ["a0", "c0"]})
    assert body == [{"Host": "a0", "Score": 0}, {"Host": "c0", "Score": 0}]


def test_nodes_form_uses_the_sent_node_when_it_is_newer(server, view):
    # the scheduler's copy of c0 says it is cordoned; the view's copy does not
    newer = node("c0", zone="us-east-1c", unschedulable=True, resource_version="2")
    _, body = call(server, "POST", "/filter", {"Pod": pod("w", service="web"), "Nodes": {"items": [newer]}})
    assert "DRAINING" in body["FailedAndUnresolvableNodes"]["c0"]


def test_http_errors_and_health(server):
    assert call(server, "GET", "/healthz") == (200, "ok")
    assert call(server, "GET", "/nope")[0] == 404
    assert call(server, "POST", "/bind", {})[0] == 404
    status, body = call(server, "POST", "/filter", raw=b"{not json")
    assert status == 400 and "invalid JSON" in body["Error"]
    status, body = call(server, "POST", "/prioritize", {"NodeNames": []})
    assert status == 400 and "Pod" in body["Error"]
    status, body = call(server, "POST", "/filter", {"Pod": pod("x", service="w")})
    assert status == 200 and "neither Nodes nor NodeNames" in body["Error"]
    # a URL prefix in the scheduler config is fine
    status, body = call(server, "POST", "/scheduler/ecs/filter", {"Pod": pod("plain"), "NodeNames": ["a0"]})
    assert status == 200 and body["NodeNames"] == ["a0"]


def test_keep_alive_connection_serves_many_requests(server):
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    try:
        for _ in range(5):
            conn.request(
                "POST", "/prioritize", body=json.dumps({"Pod": pod("w", service="web"), "NodeNames": ["a0", "c0"]})
            )
            resp = conn.getresponse()
            assert resp.status == 200 and len(json.loads(resp.read())) == 2
    finally:
        conn.close()


def test_view_failure_becomes_filter_error():
    class Broken:
        def snapshot(self):
            raise RuntimeError("API server unreachable")

    out = Extender(Broken()).filter({"Pod": pod("w", service="web"), "NodeNames": ["a0"]})
    assert out["NodeNames"] == [] and "API server unreachable" in out["Error"]


def test_in_memory_view_updates_incrementally():
    v = InMemoryClusterView([node("n1"), node("n2")], [pod("w1", node="n1", service="web")])
    s1 = v.snapshot()
    assert v.snapshot() is s1
    assert s1.instances["n1"].running_tasks_count == 1
    v.upsert_pod(pod("w2", node="n2", service="web"))
    s2 = v.snapshot()
    assert s2 is not s1 and s2.instances["n2"].running_tasks_count == 1
    assert s2.instances["n1"] is s1.instances["n1"]  # untouched node not rebuilt
    v.upsert_pod(pod("w2", node="n2", service="web", phase="Succeeded"))
    assert v.snapshot().instances["n2"].running_tasks_count == 0
    v.upsert_pod(pod("w1", node="n2", service="web"))  # moved (re-created) to n2
    s3 = v.snapshot()
    assert s3.instances["n1"].running_tasks_count == 0 and s3.instances["n2"].running_tasks_count == 1
    v.delete_pod("default", "w1")
    v.upsert_node(node("n3", unschedulable=True))
    v.delete_node("n1")
    s4 = v.snapshot()
    assert set(s4.instances) == {"n2", "n3"} and s4.instances["n3"].status == "DRAINING"
    assert s4.instances["n2"].running_tasks_count == 0


def test_cli_has_the_extender_subcommand_and_keeps_the_others():
    p = build_parser()
    args = p.parse_args(["extender", "--port", "9999", "--kubeconfig", "/tmp/kc"])
    assert args.command == "extender" and args.port == 9999 and args.kubeconfig == "/tmp/kc"
    assert p.parse_args(["extender"]).port == 8888
    for argv in (["run"], ["dev", "cluster"], ["convert", "x.json"], ["render", "x.yaml"]):
        assert p.parse_args(argv).command == argv[0]


_ANNOTATION_TEXT = st.one_of(
    st.text(max_size=40),
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "type": st.sampled_from(["memberOf", "distinctInstance", "spread", "binpack", "random", "x", 3]),
                "expression": st.one_of(
                    st.text(max_size=30),
                    st.sampled_from(
                        ["attribute:ecs.instance-type =~ t2.*", "task:group == service:web", "runningTasksCount < 2"]
                    ),
                ),
                "field": st.sampled_from(
                    ["instanceId", "host", "cpu", "memory", "attribute:ecs.availability-zone", "", None]
                ),
            },
        ),
        max_size=4,
    ).map(json.dumps),
)


@settings(max_examples=150, deadline=None)
@given(constraints=_ANNOTATION_TEXT, strategy=_ANNOTATION_TEXT, form=st.sampled_from(["names", "nodes"]))
def test_filter_accounts_for_every_node_exactly_once(constraints, strategy, form):
    ext = Extender(InMemoryClusterView(NODES, PODS))
    p = pod("w", service="web", constraints=constraints, strategy=strategy)
    args = {"Pod": p, "NodeNames": NAMES} if form == "names" else {"Pod": p, "Nodes": {"items": NODES}}
    out = ext.filter(args)
    passed = out["NodeNames"] if form == "names" else [n["metadata"]["name"] for n in out["Nodes"]["items"]]
    failed, unresolvable = set(out["FailedNodes"]), set(out["FailedAndUnresolvableNodes"])
    assert sorted(passed + list(failed) + list(unresolvable)) == sorted(NAMES)
    if out["Error"]:
        assert not passed and unresolvable == set(NAMES) and "ecs.seed.dev/placement-" in out["Error"]
    scores = ext.prioritize(args)
    assert [h["Host"] for h in scores] == NAMES and all(0 <= h["Score"] <= 10 for h in scores)
    json.dumps(out)


def test_scheduler_config_delegates_binding_to_the_extender():
    from ecs_operator.dev.scheduler import scheduler_config

    cfg = scheduler_config("/kc", 8888)
    assert cfg["extenders"] == [
        {
            "urlPrefix": "http://127.0.0.1:8888",
            "filterVerb": "filter",
            "prioritizeVerb": "prioritize",
            "weight": 150,
            "nodeCacheCapable": True,
            "ignorable": False,
            "enableHTTPS": False,
            "httpTimeout": "5s",
            "bindVerb": "bind",
        }
    ]
    without = scheduler_config("/kc", 8888, bind=False)
    assert "bindVerb" not in without["extenders"][0]
    assert {**without["extenders"][0], "bindVerb": "bind"} == cfg["extenders"][0]
    assert {k: v for k, v in without.items() if k != "extenders"} == {k: v for k, v in cfg.items() if k != "extenders"}


def test_bind_refuses_pods_of_other_schedulers_bound_or_unknown_pods():
    from ecs_operator.extender.verbs import Extender
    from ecs_operator.extender.view import InMemoryClusterView

    def pod(name, scheduler="ecs-scheduler", node=None, uid=None):
        spec = {"schedulerName": scheduler, "containers": [{"name": "c"}]}
        if node:
            spec["nodeName"] = node
        return {
            "metadata": {"name": name, "namespace": "ns", "uid": uid or f"u-{name}"},
            "spec": spec,
            "status": {"phase": "Pending"},
        }

    node = {"metadata": {"name": "n1", "labels": {}}, "status": {"allocatable": {"cpu": "2", "memory": "4Gi"}}}
    view = InMemoryClusterView(
        nodes=[node], pods=[pod("mine"), pod("other", scheduler="default-scheduler"), pod("bound", node="n1")]
    )
    bound = []
    ext = Extender(view, lambda ns, name, uid, n: bound.append(name), scheduler_names=["ecs-scheduler"])

    def bind(name, uid=None):
        return ext.bind({"PodName": name, "PodNamespace": "ns", "PodUID": uid or f"u-{name}", "Node": "n1"})["Error"]

    assert bind("mine") == "" and bound == ["mine"]
    assert "names scheduler 'default-scheduler'" in bind("other")
    assert "already bound to n1" in bind("bound")
    assert "not known to the extender" in bind("ghost")
    assert "has uid u-mine" in bind("mine", uid="forged")
    assert bound == ["mine"] and ext.counters["binds_refused"] == 4
