"""The operator's /metrics: the registry's Prometheus text, the handler timer, the HTTP server,
and the counting of every Kubernetes API request in k8s/ (no cluster: a fake API client)."""

from __future__ import annotations

import math
import threading
import urllib.error
import urllib.request

import kopf
import pytest
import urllib3
from ecs_operator import k8s, metrics
from ecs_operator.metrics import Registry
from kopf._core.intents.registries import get_callable_id
from kubernetes.client.exceptions import ApiException

# ------------------------------------------------------------------------------------------
# The text format
# ------------------------------------------------------------------------------------------


def _counter(r: Registry) -> None:
    c = r.counter("jobs_total", "Jobs done.", ("queue",))
    c.inc(queue="b")
    c.inc(2, queue="a")
    c.inc(queue="b")


def _counter_unlabelled(r: Registry) -> None:
    r.counter("starts_total", "Starts.").inc(0.5)


def _gauge(r: Registry) -> None:
    g = r.gauge("depth", "Queue depth.", ("q",))
    g.set(7, q="x")
    g.inc(q="y")
    g.dec(3, q="y")
    g.set_function(lambda: 4, q="z")


def _gauge_unset(r: Registry) -> None:
    r.gauge("idle", "Never set.")


def _histogram(r: Registry) -> None:
    h = r.histogram("lat_seconds", "Latency.", ("verb",), buckets=(0.1, 1))
    for v in (0.05, 0.1, 0.5, 3):
        h.observe(v, verb="get")


RENDER_CASES = [
    (
        _counter,
        '# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total{queue="a"} 2\njobs_total{queue="b"} 2\n',
    ),
    (_counter_unlabelled, "# HELP starts_total Starts.\n# TYPE starts_total counter\nstarts_total 0.5\n"),
    (
        _gauge,
        '# HELP depth Queue depth.\n# TYPE depth gauge\ndepth{q="x"} 7\ndepth{q="y"} -2\ndepth{q="z"} 4\n',
    ),
    (_gauge_unset, "# HELP idle Never set.\n# TYPE idle gauge\n"),
    (
        _histogram,
        "# HELP lat_seconds Latency.\n# TYPE lat_seconds histogram\n"
        'lat_seconds_bucket{verb="get",le="0.1"} 2\n'
        'lat_seconds_bucket{verb="get",le="1.0"} 3\n'
        'lat_seconds_bucket{verb="get",le="+Inf"} 4\n'
        'lat_seconds_sum{verb="get"} 3.65\n'
        'lat_seconds_count{verb="get"} 4\n',
    ),
]


@pytest.mark.parametrize(("fill", "text"), RENDER_CASES, ids=[f.__name__ for f, _ in RENDER_CASES])
def test_render(fill, text):
    r = Registry()
    fill(r)
    assert r.render() == text


def test_metrics_render_in_registration_order():
    r = Registry()
    r.gauge("zeta", "Z.").set(1)
    r.counter("alpha_total", "A.").inc()
    assert [line for line in r.render().splitlines() if not line.startswith("#")] == ["zeta 1", "alpha_total 1"]


@pytest.mark.parametrize(
    ("value", "series"),
    [
        ("plain", 'm{l="plain"} 1'),
        ('say "hi"', 'm{l="say \\"hi\\""} 1'),
        ("back\\slash", 'm{l="back\\\\slash"} 1'),
        ("two\nlines", 'm{l="two\\nlines"} 1'),
        ("", 'm{l=""} 1'),
        ("<error>", 'm{l="<error>"} 1'),
    ],
)
def test_label_values_are_escaped(value, series):
    r = Registry()
    r.counter("m", "M.", ("l",)).inc(l=value)
    assert r.render().splitlines()[-1] == series


def test_help_is_escaped():
    r = Registry()
    r.gauge("g", "a\\b\nc")
    assert r.render().splitlines()[0] == "# HELP g a\\\\b\\nc"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3, "3"),
        (0, "0"),
        (True, "1"),
        (2.5, "2.5"),
        (1.0, "1.0"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
    ],
)
def test_format_value(value, text):
    assert metrics.format_value(value) == text


@pytest.mark.parametrize(
    ("observations", "cumulative"),
    [
        ([], None),
        ([0.001], [1, 1, 1, 1]),  # on a bound: le is inclusive
        ([0.0011], [0, 1, 1, 1]),
        ([100], [0, 0, 0, 1]),  # above every bound: +Inf only
        ([-1, 0.01, 0.01, 0.5, 2, 9], [1, 3, 4, 6]),
    ],
)
def test_histogram_buckets_are_cumulative(observations, cumulative):
    r = Registry()
    h = r.histogram("h", "H.", buckets=(1, 0.01, 0.001))  # given unsorted
    for v in observations:
        h.observe(v)
    lines = r.render().splitlines()[2:]
    if cumulative is None:
        assert lines == []
        return
    buckets = [int(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("h_bucket")]
    assert [line.split("}")[0] for line in lines if line.startswith("h_bucket")] == [
        'h_bucket{le="0.001"',
        'h_bucket{le="0.01"',
        'h_bucket{le="1.0"',
        'h_bucket{le="+Inf"',
    ]
    assert buckets == cumulative
    assert buckets == sorted(buckets)
    assert f"h_count {len(observations)}" in lines and h.count() == len(observations) == buckets[-1]
    assert float(next(x for x in lines if x.startswith("h_sum")).split()[1]) == pytest.approx(sum(observations))


@pytest.mark.parametrize(
    "make",
    [
        lambda r: r.counter("bad-name", "x"),
        lambda r: r.counter("ok", "x", ("bad-label",)),
        lambda r: r.counter("ok", "x", ("__reserved",)),
        lambda r: r.counter("ok", "x", ("a", "a")),
        lambda r: r.histogram("h", "x", ("le",)),
        lambda r: r.histogram("h", "x", buckets=()),
        lambda r: r.histogram("h", "x", buckets=(1, 1)),
        lambda r: r.counter("c", "x").inc(-1),
        lambda r: r.counter("c", "x", ("a",)).inc(),
        lambda r: r.counter("c", "x", ("a",)).inc(a="1", b="2"),
        lambda r: (r.gauge("same", "x"), r.counter("same", "y")),
    ],
)
def test_misuse_is_refused(make):
    with pytest.raises(ValueError):
        make(Registry())


def test_a_failing_gauge_function_is_left_out_of_the_scrape():
    r = Registry()
    g = r.gauge("g", "G.", ("k",))
    g.set_function(lambda: 1 / 0, k="broken")
    g.set(2, k="ok")
    assert r.render().splitlines()[2:] == ['g{k="ok"} 2']


def test_updates_from_many_threads_are_all_counted():
    r = Registry()
    c = r.counter("c_total", "C.", ("t",))
    h = r.histogram("h", "H.")

    def work():
        for _ in range(5000):
            c.inc(t="x")
            h.observe(0.002)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert c.value(t="x") == 40000 and h.count() == 40000
    assert 'h_bucket{le="0.0025"} 40000' in r.render()


# ------------------------------------------------------------------------------------------
# The handler timer
# ------------------------------------------------------------------------------------------


def test_reconciled_times_each_call_by_kind_handler_and_outcome():
    @metrics.reconciled("TestKind")
    def handler(body, fail=False, **_):
        assert metrics.RECONCILE_IN_PROGRESS.value(kind="TestKind") == 1
        if fail:
            raise kopf.TemporaryError("later")
        return body

    d = metrics.RECONCILE_DURATION
    assert handler("b", extra=1) == "b"
    with pytest.raises(kopf.TemporaryError):
        handler("b", fail=True)
    assert d.count(kind="TestKind", handler="handler", outcome="success") == 1
    assert d.count(kind="TestKind", handler="handler", outcome="error") == 1
    assert metrics.RECONCILE_IN_PROGRESS.value(kind="TestKind") == 0
    # kopf registers the timed function under the handler's own id (its progress annotations)
    assert get_callable_id(handler) == get_callable_id(handler.__wrapped__)
    assert handler.__name__ == "handler"


def test_reconciled_may_name_the_handler():
    @metrics.reconciled("TestKind", handler="named")
    def work():
        pass

    work()
    assert metrics.RECONCILE_DURATION.count(kind="TestKind", handler="named", outcome="success") == 1


def test_every_kopf_handler_of_the_operator_is_timed():
    from ecs_operator import handlers  # noqa: F401  (registers them)

    registry = kopf.get_default_registry()
    fns = [h.fn for h in registry._changing.get_all_handlers()]
    fns += [h.fn for h in registry._watching.get_all_handlers()]
    fns += [h.fn for h in registry._spawning.get_all_handlers()]
    ours = [fn for fn in fns if fn.__module__.startswith("ecs_operator.handlers")]
    assert ours and all(hasattr(fn, "__wrapped__") for fn in ours), [fn.__name__ for fn in ours]


def test_the_refresh_queue_depth_is_the_coalescers_pending_count():
    from ecs_operator.handlers import ecsservice

    assert metrics.REFRESH_QUEUE_DEPTH.value() == ecsservice._refreshes.pending()
    assert "ecs_operator_refresh_queue_depth " in metrics.REGISTRY.render()


# ------------------------------------------------------------------------------------------
# The HTTP server
# ------------------------------------------------------------------------------------------


def test_the_server_answers_metrics_and_nothing_else():
    r = Registry()
    r.counter("served_total", "S.").inc()
    with metrics.MetricsServer(0, "127.0.0.1", registry=r) as server:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == metrics.CONTENT_TYPE
            assert resp.read().decode() == r.render()
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=5)
        assert e.value.code == 404
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=2)


# ------------------------------------------------------------------------------------------
# Counting the API calls (k8s/)
# ------------------------------------------------------------------------------------------


class _Resp:
    def __init__(self, status: int, data: bytes = b"{}"):
        self.status = status
        self.data = data


class _FakeRest:
    def __init__(self, answer):
        self.answer = answer
        self.calls: list[tuple[str, str]] = []

    def request(self, method, url, **kwargs):
        self.calls.append((method, url))
        return self.answer(method, url)


class _FakeClient:
    """What k8s/ uses of kubernetes.client.ApiClient: call_api, and for impersonation its REST
    client, its configuration's host and update_params_for_auth."""

    class configuration:
        host = "https://api.test"

    def __init__(self, answer):
        self.answer = answer
        self.rest_client = _FakeRest(answer)

    def call_api(self, url, method, **kwargs):
        return self.answer(method, url)

    def update_params_for_auth(self, headers, query, auth):
        pass


def _raise(status):
    def answer(method, url):
        raise ApiException(status=status, reason="x")

    return answer


def _unreachable(method, url):
    raise urllib3.exceptions.NewConnectionError(None, "refused")


OBJ = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}}

CALLS = [
    # (what k8s/ is asked, the API's answer, the verb and code counted)
    (lambda: k8s.apply(OBJ), lambda m, u: _Resp(200), "apply", "200"),
    (lambda: k8s.get("v1", "ConfigMap", "ns", "c"), lambda m, u: _Resp(200), "get", "200"),
    (lambda: k8s.get("v1", "ConfigMap", "ns", "c"), _raise(404), "get", "404"),
    (lambda: k8s.list_("v1", "Pod", "ns", labels={"a": "b"}), lambda m, u: _Resp(200, b'{"items":[]}'), "list", "200"),
    (lambda: k8s.create(OBJ), lambda m, u: _Resp(201), "create", "201"),
    (lambda: k8s.create(OBJ, canonical=True), lambda m, u: _Resp(201), "create", "201"),
    (lambda: k8s.merge_patch("v1", "ConfigMap", "ns", "c", {}), lambda m, u: _Resp(200), "patch", "200"),
    (lambda: k8s.delete("v1", "ConfigMap", "ns", "c"), lambda m, u: _Resp(200), "delete", "200"),
    (lambda: k8s.delete("v1", "ConfigMap", "ns", "c"), _raise(404), "delete", "404"),
    (lambda: k8s.dry_run_create(OBJ), lambda m, u: _Resp(201), "dry_run", "201"),
    (lambda: k8s.Access().replace(OBJ), lambda m, u: _Resp(200), "replace", "200"),
    (lambda: k8s.Access("alice", ["devs"]).get("v1", "ConfigMap", "ns", "c"), lambda m, u: _Resp(200), "get", "200"),
]


@pytest.mark.parametrize(("call", "answer", "verb", "code"), CALLS)
def test_each_api_request_is_counted_by_verb_and_code(monkeypatch, call, answer, verb, code):
    monkeypatch.setattr(k8s, "client", lambda: _FakeClient(answer))
    before = metrics.API_REQUESTS.value(verb=verb, code=code)
    timed = metrics.API_DURATION.count(verb=verb)
    call()
    assert metrics.API_REQUESTS.value(verb=verb, code=code) == before + 1
    assert metrics.API_DURATION.count(verb=verb) == timed + 1


@pytest.mark.parametrize(
    ("answer", "raised", "code"),
    [
        (_raise(409), kopf.TemporaryError, "409"),
        (_raise(500), kopf.TemporaryError, "500"),
        (_raise(403), k8s.ApiError, "403"),
        (_raise(422), k8s.ApiError, "422"),
        (_unreachable, kopf.TemporaryError, "<error>"),
    ],
)
def test_failed_requests_are_counted_with_their_code(monkeypatch, answer, raised, code):
    monkeypatch.setattr(k8s, "client", lambda: _FakeClient(answer))
    before = metrics.API_REQUESTS.value(verb="patch", code=code)
    with pytest.raises(raised):
        k8s.merge_patch("v1", "ConfigMap", "ns", "c", {"data": {}})
    assert metrics.API_REQUESTS.value(verb="patch", code=code) == before + 1


def test_the_operator_registry_renders_every_metric_family():
    text = metrics.REGISTRY.render()
    for name, kind in [
        ("ecs_operator_reconcile_duration_seconds", "histogram"),
        ("ecs_operator_reconcile_in_progress", "gauge"),
        ("ecs_operator_refresh_queue_depth", "gauge"),
        ("ecs_operator_handler_queue_depth", "gauge"),
        ("ecs_operator_api_requests_total", "counter"),
        ("ecs_operator_api_request_duration_seconds", "histogram"),
    ]:
        assert f"# TYPE {name} {kind}\n" in text


def test_run_serves_metrics_while_kopf_runs_and_closes_after(monkeypatch):
    """``ecs-operator run --metrics-port``: the endpoint answers while kopf runs, and is gone after."""
    import socket

    from ecs_operator import cli, runner

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    seen = {}

    async def operator(**kwargs):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            seen["text"] = resp.read().decode()
        seen["kwargs"] = kwargs

    monkeypatch.setattr(runner.kopf, "operator", operator)
    monkeypatch.setattr(runner.kopf, "configure", lambda **_: None)
    argv = ["run", "-n", "a", "--metrics-port", str(port), "--metrics-address", "127.0.0.1"]
    assert cli.main(argv) == 0
    assert "# TYPE ecs_operator_api_requests_total counter" in seen["text"]
    assert seen["kwargs"]["namespaces"] == ["a"]
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_run_without_a_metrics_port_serves_none(monkeypatch):
    from ecs_operator import cli, runner

    started = []
    monkeypatch.setattr(runner.metrics, "MetricsServer", lambda *a, **k: started.append(a))

    async def operator(**kwargs):
        pass

    monkeypatch.setattr(runner.kopf, "operator", operator)
    monkeypatch.setattr(runner.kopf, "configure", lambda **_: None)
    assert cli.main(["run"]) == 0 and started == []
