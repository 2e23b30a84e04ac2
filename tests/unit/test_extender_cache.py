"""The extender's watch cache: events applied to the in-memory view (pure), the list/watch
loop against a scripted source (410 -> relist, errors -> backoff and resume, readiness), the
kubernetes client's Watch fed a fake stream, assumed pods (bind) and in-flight pods."""

from __future__ import annotations

import http.client
import json
import threading
import time

import pytest
from ecs_operator.domain import instances
from ecs_operator.domain.instances import slim_node, slim_pod
from ecs_operator.extender.cache import (
    NODES,
    PODS,
    Backoff,
    Gone,
    NotSynced,
    Reflector,
    WatchCache,
    WatchError,
)
from ecs_operator.extender.kube import POD_FIELD_SELECTOR, KubeSource
from ecs_operator.extender.server import make_server
from ecs_operator.extender.synthetic import cluster, node, pod
from ecs_operator.extender.verbs import Extender
from ecs_operator.extender.view import InMemoryClusterView


def ev(etype: str, obj: dict, rv: str | None = None) -> dict:
    if rv is not None:
        obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": rv}}
    return {"type": etype, "object": obj}


def bookmark(rv: str) -> dict:
    return {"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": rv}}}


def error(code: int, message: str = "too old resource version") -> dict:
    return {
        "type": "ERROR",
        "object": {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "message": message,
            "reason": "Expired",
            "code": code,
        },
    }


def reflectors(view=None):
    view = view or InMemoryClusterView()
    return view, Reflector(NODES, view), Reflector(PODS, view)


# --------------------------------------------------------------------------------------
# slim copies


def test_slim_objects_keep_exactly_what_placement_reads():
    nodes, pods = cluster(30, pods_per_node=8)
    pods.append(pod("init", node=nodes[0]["metadata"]["name"], service="web"))
    pods[-1]["spec"]["initContainers"] = [
        {"name": "big", "image": "x", "resources": {"requests": {"cpu": "3", "memory": "1Gi"}}},
        {"name": "side", "image": "y", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
    ]
    pods[-1]["spec"]["overhead"] = {"cpu": "10m", "memory": "1Mi"}
    pods[-1]["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = "{" + "x" * 5000 + "}"
    full = instances.build_instances(nodes, pods)
    slim = instances.build_instances([slim_node(n) for n in nodes], [slim_pod(p) for p in pods])
    assert slim == full
    assert len(json.dumps(slim_pod(pods[-1]))) < 1000 < 5000 < len(json.dumps(pods[-1]))
    assert len(json.dumps([slim_node(n) for n in nodes])) < len(json.dumps(nodes)) / 3
    sp = slim_pod(pods[-1])
    assert set(sp["metadata"]["annotations"]) == {"ecs.seed.dev/group"}
    assert sp["spec"]["initContainers"][1]["restartPolicy"] == "Always"
    assert "image" not in sp["spec"]["containers"][0]
    sn = slim_node(nodes[0])
    assert "images" not in sn["status"] and set(sn["status"]["conditions"][0]) == {"type", "status"}


# --------------------------------------------------------------------------------------
# events (pure)


def test_list_then_added_modified_deleted():
    view, rn, rp = reflectors()
    rn.replace([node("n1", zone="us-east-1a"), node("n2", zone="us-east-1b")], "100")
    rp.replace([pod("w1", node="n1", service="web")], "101")
    assert rn.synced and rp.synced and (rn.resource_version, rp.resource_version) == ("100", "101")
    s = view.snapshot()
    assert set(s.instances) == {"n1", "n2"} and s.instances["n1"].task_groups == {"service:web": 1}

    rp.apply(ev("ADDED", pod("w2", service="web", phase="Pending"), "102"))  # not bound yet
    assert view.snapshot().instances["n2"].task_groups == {}
    rp.apply(ev("MODIFIED", pod("w2", node="n2", service="web", phase="Pending"), "103"))  # bound
    s = view.snapshot()
    assert s.instances["n2"].task_groups == {"service:web": 1} and s.instances["n2"].pending_tasks_count == 1
    rp.apply(ev("MODIFIED", pod("w2", node="n2", service="web", phase="Running"), "104"))
    assert view.snapshot().instances["n2"].running_tasks_count == 1
    rp.apply(ev("DELETED", pod("w1", node="n1", service="web"), "105"))
    assert view.snapshot().instances["n1"].task_groups == {}
    assert rp.resource_version == "105" and rp.events == 4

    rn.apply(ev("MODIFIED", node("n1", unschedulable=True), "106"))
    rn.apply(ev("ADDED", node("n3", zone="us-east-1c"), "107"))
    rn.apply(ev("DELETED", node("n2"), "108"))
    s = view.snapshot()
    assert set(s.instances) == {"n1", "n3"} and s.instances["n1"].status == "DRAINING"
    assert s.instances["n3"].resource_version == "107" and rn.resource_version == "108"


def test_pod_phases_and_termination():
    view, rn, rp = reflectors()
    rn.replace([node("n1", memory="4Gi")], "1")
    rp.replace([], "1")
    p = pod("t1", node="n1", task_family="batch", memory="1Gi", phase="Pending")
    rp.apply(ev("ADDED", p, "2"))
    inst = view.snapshot().instances["n1"]
    assert (inst.pending_tasks_count, inst.running_tasks_count, inst.remaining_memory) == (1, 0, 3072)
    rp.apply(ev("MODIFIED", pod("t1", node="n1", task_family="batch", memory="1Gi", phase="Running"), "3"))
    inst = view.snapshot().instances["n1"]
    assert (inst.pending_tasks_count, inst.running_tasks_count) == (0, 1)
    # a pod that terminates: the field selector makes it a DELETED event, but a MODIFIED with the
    # terminal phase (a watch without the selector) must free the instance too
    rp.apply(ev("MODIFIED", pod("t1", node="n1", task_family="batch", memory="1Gi", phase="Succeeded"), "4"))
    inst = view.snapshot().instances["n1"]
    assert (inst.running_tasks_count, inst.remaining_memory, dict(inst.task_groups)) == (0, 4096, {})
    assert view.counts() == (1, 0)
    rp.apply(ev("DELETED", pod("t1", node="n1", task_family="batch", phase="Succeeded"), "5"))
    assert view.counts() == (1, 0)


def test_relist_replaces_the_state():
    view, rn, rp = reflectors()
    rn.replace([node("n1"), node("n2")], "10")
    rp.replace([pod("a", node="n1", service="web"), pod("b", node="n2", service="web")], "10")
    s1 = view.snapshot()
    # after a 410: a fresh listing where n2 and pod b are gone and pod c appeared
    rn.replace([node("n1"), node("n3")], "50")
    rp.replace([pod("a", node="n1", service="web"), pod("c", node="n3", service="api")], "50")
    s2 = view.snapshot()
    assert set(s2.instances) == {"n1", "n3"}
    assert s2.instances["n3"].task_groups == {"service:api": 1}
    assert s2.instances["n1"].task_groups == s1.instances["n1"].task_groups
    assert view.counts() == (2, 2)
    assert (rn.relists, rp.relists) == (1, 1) and rp.resource_version == "50"


def test_bookmark_only_moves_the_resource_version():
    view, rn, rp = reflectors()
    rn.replace([node("n1")], "7")
    rp.replace([pod("a", node="n1", service="web")], "7")
    s = view.snapshot()
    rp.apply(bookmark("900"))
    assert rp.resource_version == "900" and view.snapshot() is s


def test_error_events():
    _, _, rp = reflectors()
    with pytest.raises(Gone):
        rp.apply(error(410))
    with pytest.raises(WatchError, match="500"):
        rp.apply(error(500, "internal"))
    with pytest.raises(WatchError):
        rp.apply({"type": "WHAT", "object": {"metadata": {}}})


def test_recreated_pod_of_the_same_name():
    view, rn, rp = reflectors()
    rn.replace([node("n1"), node("n2")], "1")
    rp.replace([pod("x", node="n1", service="web", uid="u1")], "1")
    rp.apply(ev("ADDED", pod("x", node="n2", service="web", uid="u2"), "3"))
    # a late DELETED of the old incarnation must not drop the new one
    view.delete_pod("default", "x", "u1")
    s = view.snapshot()
    assert s.instances["n1"].task_groups == {} and s.instances["n2"].task_groups == {"service:web": 1}


# --------------------------------------------------------------------------------------
# the list/watch loop, against a scripted source


class FakeSource:
    """Scripted lists and watch streams per kind; a stream item that is an exception is
    raised. When a kind's script is exhausted, its watch blocks until stop."""

    def __init__(self, lists: dict, watches: dict):
        self.lists = {k: list(v) for k, v in lists.items()}
        self.watches = {k: list(v) for k, v in watches.items()}
        self.calls: list[tuple] = []
        self.lock = threading.Lock()

    def list(self, kind):
        with self.lock:
            self.calls.append(("list", kind))
            item = self.lists[kind].pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def watch(self, kind, rv, timeout, stop):
        with self.lock:
            self.calls.append(("watch", kind, rv))
            script = self.watches[kind].pop(0) if self.watches[kind] else None
        if script is None:
            stop.wait()
            return
        for item in script:
            if isinstance(item, Exception):
                raise item
            yield item

    def of(self, kind):
        with self.lock:
            return [c[0] if c[0] == "list" else (c[0], c[2]) for c in self.calls if c[1] == kind]


def fast_backoff():
    return Backoff(initial=0.001, cap=0.005)


def wait_until(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_loop_lists_watches_resumes_and_relists_on_410():
    src = FakeSource(
        lists={
            NODES: [([node("n1")], "10")],
            PODS: [
                ([pod("a", node="n1", service="web")], "10"),
                ([pod("a", node="n1", service="web"), pod("c", node="n1", service="web")], "40"),
            ],
        },
        watches={
            NODES: [],
            PODS: [
                [ev("ADDED", pod("b", node="n1", service="web"), "11"), bookmark("20")],  # server timeout
                [ConnectionResetError("reset by peer")],  # -> backoff
                [ev("DELETED", pod("b", node="n1", service="web"), "21"), Gone("too old")],  # -> relist
            ],
        },
    )
    cache = WatchCache(src, backoff=fast_backoff, min_timeout=1, max_timeout=1).start()
    try:
        assert cache.wait_synced(5)
        wait_until(lambda: len(src.of(PODS)) >= 6)
        assert src.of(PODS) == ["list", ("watch", "10"), ("watch", "20"), ("watch", "20"), "list", ("watch", "40")]
        assert src.of(NODES) == ["list", ("watch", "10")]
        s = cache.snapshot()
        assert s.instances["n1"].task_groups == {"service:web": 2}  # a and c; b deleted
        st = cache.status()
        assert st[PODS]["relists"] == 1 and st[PODS]["resourceVersion"] == "40" and st[PODS]["error"] is None
        assert st[NODES]["objects"] == 1 and st[PODS]["objects"] == 2
    finally:
        cache.stop()


def test_not_ready_until_both_are_listed_and_list_errors_back_off():
    gate = threading.Event()

    class SlowSource(FakeSource):
        def list(self, kind):
            if kind == PODS:
                gate.wait(5)
            return super().list(kind)

    src = SlowSource(
        lists={NODES: [RuntimeError("connection refused"), ([node("n1")], "5")], PODS: [([], "5")]},
        watches={NODES: [], PODS: []},
    )
    cache = WatchCache(src, backoff=fast_backoff)
    srv = make_server(cache, "127.0.0.1", 0)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()

    def get(path):
        conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=5)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.read().decode()
        finally:
            conn.close()

    try:
        cache.start()
        with pytest.raises(NotSynced):
            cache.snapshot()
        status, body = get("/readyz")
        assert status == 503 and "not ready" in body
        assert get("/healthz")[0] == 503 and get("/livez") == (200, "ok")
        out = Extender(cache).filter({"Pod": pod("w", service="web"), "NodeNames": ["n1"]})
        assert out["NodeNames"] == [] and "not listed yet" in out["Error"]
        wait_until(lambda: cache.reflectors[NODES].synced)  # after one failed list
        assert not cache.ready()
        gate.set()
        assert cache.wait_synced(5)
        assert get("/readyz") == (200, "ok") and get("/healthz") == (200, "ok")
        assert src.of(NODES)[:2] == ["list", "list"]
        metrics = get("/metrics")[1]
        assert 'ecs_extender_cache_synced{resource="nodes"} 1' in metrics
    finally:
        cache.stop()
        srv.shutdown()
        srv.server_close()


def test_stop_ends_the_threads():
    src = FakeSource(lists={NODES: [([], "1")], PODS: [([], "1")]}, watches={NODES: [], PODS: []})
    cache = WatchCache(src).start()
    assert cache.wait_synced(5)
    cache.stop()
    assert not any(t.is_alive() for t in cache._threads)


def test_backoff_grows_to_the_cap_and_resets():
    b = Backoff(initial=1, cap=8)
    delays = [b.next() for _ in range(6)]
    assert all(0.5 <= d <= 1 for d in delays[:1]) and all(4 <= d <= 8 for d in delays[4:])
    b.reset()
    assert b.next() <= 1


# --------------------------------------------------------------------------------------
# KubeSource through the kubernetes client's Watch, on a fake HTTP response


class FakeResponse:
    data = b"{}"

    def __init__(self, lines):
        self.lines = lines

    def stream(self, amt=None, decode_content=False):
        for line in self.lines:
            yield (json.dumps(line) + "\n").encode()

    def close(self):
        pass

    def release_conn(self):
        pass


class FakeApi:
    def __init__(self, streams, pages=None):
        self.streams = list(streams)
        self.pages = list(pages or [])
        self.calls = []

    def list_pod_for_all_namespaces(self, **kw):
        self.calls.append(kw)
        if kw.get("watch"):
            return FakeResponse(self.streams.pop(0))
        page = self.pages.pop(0)
        return type("R", (), {"data": json.dumps(page).encode(), "release_conn": lambda self: None})()

    list_node = list_pod_for_all_namespaces


def kube_source(api):
    src = KubeSource(lambda: None)
    src._local.core = api
    return src


def test_kube_source_watch_parses_raw_events_and_raises_gone_on_410():
    api = FakeApi([[ev("ADDED", pod("a", node="n1"), "5"), bookmark("9"), error(410)]])
    src = kube_source(api)
    got = []
    with pytest.raises(Gone):
        for e in src.watch(PODS, "4", 30, threading.Event()):
            got.append(e)
    assert [e["type"] for e in got] == ["ADDED", "BOOKMARK"]
    assert got[0]["object"]["metadata"]["name"] == "a"  # a plain dict, not a model
    kw = api.calls[0]
    assert kw["watch"] is True and kw["resource_version"] == "4" and kw["allow_watch_bookmarks"] is True
    assert kw["timeout_seconds"] == 30 and kw["_request_timeout"][1] > 30  # client timeout > server's
    assert kw["field_selector"] == POD_FIELD_SELECTOR


def test_kube_source_lists_every_page():
    pages = [
        {"metadata": {"resourceVersion": "77", "continue": "tok"}, "items": [pod("a")]},
        {"metadata": {"resourceVersion": "77"}, "items": [pod("b")]},
    ]
    api = FakeApi([], pages)
    items, rv = kube_source(api).list(PODS)
    assert [p["metadata"]["name"] for p in items] == ["a", "b"] and rv == "77"
    assert "_continue" not in api.calls[0] and api.calls[1]["_continue"] == "tok"
    assert api.calls[0]["field_selector"] == POD_FIELD_SELECTOR and api.calls[0]["limit"] == 500


# --------------------------------------------------------------------------------------
# assumed pods (the bind verb)


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_assumed_pod_counts_until_the_binding_is_seen():
    clock = Clock()
    view = InMemoryClusterView(
        [node("n1"), node("n2")], [pod("w", service="web", uid="u1", phase="Pending")], clock=clock
    )
    assert view.assume_pod("default", "w", "u1", "n2")
    assert view.snapshot().instances["n2"].task_groups == {"service:web": 1}
    # an update of the still-unbound pod (as the watch may deliver) keeps the assumption
    view.upsert_pod(pod("w", service="web", uid="u1", phase="Pending", labels={"x": "1"}))
    assert view.snapshot().instances["n2"].task_groups == {"service:web": 1}
    # the API server's binding replaces it (here: to another node, which wins)
    view.upsert_pod(pod("w", node="n1", service="web", uid="u1", phase="Pending"))
    s = view.snapshot()
    assert s.instances["n1"].task_groups == {"service:web": 1} and s.instances["n2"].task_groups == {}
    assert view.assumed() == {}


def test_assumption_expires_is_forgotten_and_needs_a_pod():
    clock = Clock()
    view = InMemoryClusterView([node("n1")], [pod("w", service="web", uid="u1", phase="Pending")], clock=clock)
    assert not view.assume_pod("default", "unknown", "u9", "n1")
    hint = slim_pod(pod("unknown", service="web", uid="u9", phase="Pending"))
    assert view.assume_pod("default", "unknown", "u9", "n1", hint)  # from the filter call
    assert view.assume_pod("default", "w", "u1", "n1", ttl=30)
    assert view.snapshot().instances["n1"].task_groups == {"service:web": 2}
    view.forget_pod("default", "unknown", "u9")
    assert view.snapshot().instances["n1"].task_groups == {"service:web": 1}
    clock.t += 31
    assert view.snapshot().instances["n1"].task_groups == {}
    assert view.assumed() == {}


def test_relist_keeps_assumptions_of_listed_pods_only():
    view = InMemoryClusterView(
        [node("n1")],
        [pod("a", service="web", uid="ua", phase="Pending"), pod("b", service="web", uid="ub", phase="Pending")],
    )
    view.assume_pod("default", "a", "ua", "n1")
    view.assume_pod("default", "b", "ub", "n1")
    view.replace_pods([pod("a", service="web", uid="ua", phase="Pending")])  # b was deleted
    assert view.assumed() == {("default", "a"): "n1"}
    assert view.snapshot().instances["n1"].task_groups == {"service:web": 1}


def test_pod_listener_hears_bound_and_deleted_pods_only():
    view = InMemoryClusterView([node("n1")])
    heard = []
    view.add_pod_listener(heard.extend)
    view.upsert_pod(pod("a", service="web", uid="ua", phase="Pending"))
    view.assume_pod("default", "a", "ua", "n1")
    assert heard == []
    view.upsert_pod(pod("a", node="n1", service="web", uid="ua"))
    view.upsert_pod(pod("b", service="web", uid="ub", phase="Pending"))
    view.delete_pod("default", "b", "ub")
    assert heard == ["ua", "ub"]


# --------------------------------------------------------------------------------------
# bind and in-flight pods through the extender


def spread_pod(name):
    return pod(
        name, service="web", phase="Pending", strategy=[{"type": "spread", "field": "attribute:ecs.availability-zone"}]
    )


ZONE_NODES = [node("a", zone="us-east-1a"), node("b", zone="us-east-1b"), node("c", zone="us-east-1c")]


def best(scores):
    top = max(h["Score"] for h in scores)
    return sorted(h["Host"] for h in scores if h["Score"] == top)


def test_bind_assumes_then_binds_and_reports_errors():
    bound, fail = [], []

    def binder(ns, name, uid, node_name):
        if fail:
            raise RuntimeError("409 pod already assigned")
        bound.append((ns, name, uid, node_name))

    view = InMemoryClusterView(ZONE_NODES)
    ext = Extender(view, binder, inflight_timeout=1.0)
    p1 = spread_pod("w1")
    assert ext.filter({"Pod": p1, "NodeNames": ["a", "b", "c"]})["NodeNames"] == ["a", "b", "c"]
    # the pod is unknown to the view (watch behind): the filter's copy is assumed
    assert ext.bind({"PodName": "w1", "PodNamespace": "default", "PodUID": p1["metadata"]["uid"], "Node": "b"}) == {
        "Error": ""
    }
    assert bound == [("default", "w1", p1["metadata"]["uid"], "b")]
    assert view.snapshot().instances["b"].task_groups == {"service:web": 1}
    assert best(ext.prioritize({"Pod": spread_pod("w2"), "NodeNames": ["a", "b", "c"]})) == ["a", "c"]
    fail.append(1)
    p3 = spread_pod("w3")
    view.upsert_pod(p3)
    out = ext.bind({"PodName": "w3", "PodNamespace": "default", "PodUID": p3["metadata"]["uid"], "Node": "a"})
    assert "409 pod already assigned" in out["Error"]
    assert view.snapshot().instances["a"].task_groups == {}  # the assumption is dropped
    assert ext.counters["bind_errors"] == 1


def test_bind_over_http_and_bad_arguments():
    view = InMemoryClusterView(ZONE_NODES, [pod("w", service="web", phase="Pending")])
    srv = make_server(view, "127.0.0.1", 0, binder=lambda *a: None)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:

        def post(body):
            conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=5)
            conn.request("POST", "/scheduler/bind", body=json.dumps(body))
            r = conn.getresponse()
            out = r.status, json.loads(r.read())
            conn.close()
            return out

        assert post({"PodName": "w", "PodNamespace": "default", "PodUID": "uid-default-w", "Node": "c"}) == (
            200,
            {"Error": ""},
        )
        assert view.snapshot().instances["c"].task_groups == {"service:web": 1}
        status, body = post({"PodName": "w"})
        assert status == 400 and "Node" in body["Error"]
        assert 'ecs_extender_request_duration_seconds_count{verb="bind"} 1' in srv.metrics()
    finally:
        srv.shutdown()
        srv.server_close()


def test_next_pod_waits_for_the_bind_of_the_previous_one():
    view = InMemoryClusterView(ZONE_NODES)
    ext = Extender(view, lambda *a: None, inflight_timeout=5.0)
    p1 = spread_pod("w1")
    ext.filter({"Pod": p1, "NodeNames": ["a", "b", "c"]})
    assert ext.inflight() == 1
    # the pod's own prioritize does not wait for itself
    assert best(ext.prioritize({"Pod": p1, "NodeNames": ["a", "b", "c"]})) == ["a", "b", "c"]
    result = {}

    def second():
        result["scores"] = ext.prioritize({"Pod": spread_pod("w2"), "NodeNames": ["a", "b", "c"]})

    t = threading.Thread(target=second)
    t.start()
    time.sleep(0.2)
    assert t.is_alive()  # waiting for w1's bind
    ext.bind({"PodName": "w1", "PodNamespace": "default", "PodUID": p1["metadata"]["uid"], "Node": "a"})
    t.join(5)
    assert best(result["scores"]) == ["b", "c"] and ext.inflight() == 0
    assert ext.counters["inflight_waits"] == 1 and ext.counters["inflight_timeouts"] == 0


def test_in_flight_pod_settled_by_the_watch_or_given_up_after_the_timeout():
    view = InMemoryClusterView(ZONE_NODES)
    ext = Extender(view, None, inflight_timeout=0.3)  # no bind verb: the watch settles pods
    p1 = spread_pod("w1")
    ext.filter({"Pod": p1, "NodeNames": ["a", "b", "c"]})
    threading.Timer(0.1, view.upsert_pod, args=(pod("w1", node="c", service="web"),)).start()
    t0 = time.monotonic()
    assert best(ext.prioritize({"Pod": spread_pod("w2"), "NodeNames": ["a", "b", "c"]})) == ["a", "b"]
    assert 0.05 < time.monotonic() - t0 < 0.3
    # a pod that passed the filter but is never bound (failed later in the scheduler)
    ext.filter({"Pod": spread_pod("w3"), "NodeNames": ["a"]})
    t0 = time.monotonic()
    ext.filter({"Pod": spread_pod("w4"), "NodeNames": ["a", "b", "c"]})
    assert 0.2 < time.monotonic() - t0 < 1.0 and ext.counters["inflight_timeouts"] == 1
    # pods the filter failed everywhere are not in flight (w5 waits for w4, which times out)
    bad = pod("w5", service="web", constraints=[{"type": "memberOf", "expression": "attribute:x == y"}])
    assert ext.filter({"Pod": bad, "NodeNames": ["a", "b", "c"]})["NodeNames"] == []
    assert ext.inflight() == 0 and ext.counters["inflight_timeouts"] == 2


def test_without_inflight_tracking_nothing_waits():
    ext = Extender(InMemoryClusterView(ZONE_NODES))
    ext.filter({"Pod": spread_pod("w1"), "NodeNames": ["a", "b", "c"]})
    t0 = time.monotonic()
    ext.prioritize({"Pod": spread_pod("w2"), "NodeNames": ["a", "b", "c"]})
    assert time.monotonic() - t0 < 0.2 and ext.inflight() == 0


# --------------------------------------------------------------------------------------
# KubeBinder (the API side of bind) on a fake client


class FakeBindingApi:
    def __init__(self, bind_error=None, pod=None):
        self.bind_error, self.pod = bind_error, pod
        self.bodies, self.reads = [], 0

    def create_namespaced_pod_binding(self, name, namespace, body, **kw):
        self.bodies.append((namespace, name, body, kw))
        if self.bind_error is not None:
            raise self.bind_error
        return FakeResponse([])

    def read_namespaced_pod(self, name, namespace, **kw):
        self.reads += 1
        return type("R", (), {"data": json.dumps(self.pod).encode(), "release_conn": lambda self: None})()


def binder_with(api):
    from ecs_operator.extender.kube import KubeBinder

    b = KubeBinder(lambda: None)
    b._core = api
    return b


def test_kube_binder_posts_the_binding():
    api = FakeBindingApi()
    binder_with(api)("ns", "w", "u1", "n1")
    ns, name, body, kw = api.bodies[0]
    assert (ns, name) == ("ns", "w") and kw["_request_timeout"] < 5
    assert body == {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "w", "namespace": "ns", "uid": "u1"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"},
    }


def test_kube_binder_failure_that_bound_anyway_is_a_success():
    from kubernetes.client.exceptions import ApiException

    bound_there = pod("w", node="n1", uid="u1")
    # the connection dropped after the request was sent, but the binding happened
    binder_with(FakeBindingApi(ConnectionResetError("reset"), bound_there))("default", "w", "u1", "n1")
    # 409: already bound -- to that node (a retried bind) is fine, to another is not
    conflict = ApiException(status=409, reason="Conflict")
    binder_with(FakeBindingApi(conflict, bound_there))("default", "w", "u1", "n1")
    with pytest.raises(RuntimeError):
        binder_with(FakeBindingApi(conflict, bound_there))("default", "w", "u1", "n2")
    with pytest.raises(RuntimeError):  # another pod of that name
        binder_with(FakeBindingApi(ConnectionResetError("reset"), bound_there))("default", "w", "u2", "n1")
    # an error that cannot hide a binding is reported as is, without reading the pod
    forbidden = ApiException(status=403, reason="Forbidden")
    forbidden.body = json.dumps({"message": 'pods "w" is forbidden: cannot create pods/binding'})
    api = FakeBindingApi(forbidden, bound_there)
    with pytest.raises(RuntimeError, match='403 pods "w" is forbidden'):
        binder_with(api)("default", "w", "u1", "n1")
    assert api.reads == 0


def test_inflight_timeout_from_the_environment(monkeypatch):
    from ecs_operator.extender import main

    monkeypatch.delenv(main.INFLIGHT_TIMEOUT_ENV, raising=False)
    assert main.inflight_timeout() == main.INFLIGHT_TIMEOUT
    monkeypatch.setenv(main.INFLIGHT_TIMEOUT_ENV, "0.25")
    assert main.inflight_timeout() == 0.25
    monkeypatch.setenv(main.INFLIGHT_TIMEOUT_ENV, "0")
    assert main.inflight_timeout() is None
