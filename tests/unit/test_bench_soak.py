"""bench/soak.py's pure parts: the RSS growth figure, the sample table, and the judgement of the
exact final state from the objects the API server lists (the soak itself needs a cluster and an
hour: it is run by hand, docs/failure.md)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load():
    spec = importlib.util.spec_from_file_location("bench_soak", BENCH / "soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


soak = _load()


def samples(*points: tuple[float, float]) -> list:
    """Samples at (minute, RSS MiB); the peak is the largest RSS so far."""
    out, peak = [], 0.0
    for minute, rss in points:
        peak = max(peak, rss)
        out.append(soak.Sample(t=minute * 60, rss_mib=rss, hwm_mib=peak, fds=20, threads=30, series=100, ops=0))
    return out


@pytest.mark.parametrize(
    "points,warmup_min,end_min,base,end,pct",
    [
        # flat after the warm-up: the warm-up's own growth does not count
        ([(0, 100), (5, 150), (6, 160), (7, 160), (8, 160), (58, 160), (59, 160), (60, 160)], 6, 60, 160, 160, 0.0),
        # 10% growth, measured between the medians of three samples at each end
        ([(6, 100), (7, 100), (8, 100), (30, 105), (58, 110), (59, 110), (60, 110)], 6, 60, 100, 110, 10.0),
        # one burst sample at either end does not make the figure
        ([(6, 100), (7, 180), (8, 100), (58, 100), (59, 100), (60, 190)], 6, 60, 100, 100, 0.0),
        # samples after the churn's end (the settle) are left out
        ([(6, 100), (7, 100), (8, 100), (10, 100), (11, 300)], 6, 10, 100, 100, 0.0),
    ],
)
def test_growth_from_the_end_of_the_warm_up_to_the_end_of_the_churn(points, warmup_min, end_min, base, end, pct):
    g = soak.growth(samples(*points), warmup_min * 60, end_min * 60)
    assert (g.baseline_mib, g.end_mib, round(g.pct, 6)) == (base, end, pct)
    assert g.peak_mib == max(rss for _, rss in points)


def test_no_growth_figure_without_a_sample_after_the_warm_up():
    assert soak.growth(samples((0, 100), (1, 100)), 120, 180) is None


@pytest.mark.parametrize(
    "points,per_hour",
    [
        ([(0, 100), (30, 105), (60, 110)], 10.0),
        ([(0, 100), (60, 100)], 0.0),
        ([(0, 100)], 0.0),
        ([(0, 120), (60, 100)], -20.0),
    ],
)
def test_trend_is_the_least_squares_slope_per_hour(points, per_hour):
    assert soak.slope_per_hour(samples(*points)) == pytest.approx(per_hour)


def test_table_rows_every_step_and_the_last_sample():
    picked = soak.every(
        samples((-0.5, 1), (0, 1), (0.5, 1), (1, 1), (4.9, 1), (5.1, 1), (7, 1), (9.9, 1), (10.2, 1)), 300
    )
    assert [round(s.t / 60, 1) for s in picked] == [0, 5.1, 10.2]
    picked = soak.every(samples((0, 1), (5, 1), (6, 1)), 300)
    assert [s.t / 60 for s in picked] == [0, 5, 6]
    table = soak.table(picked)
    assert table.splitlines()[0].split() == ["min", "RSS", "MiB", "peak", "fds", "threads", "series", "ops", "pods"]
    assert len(table.splitlines()) == 4


def test_metric_series_and_handler_errors_from_the_exposition():
    text = "\n".join(
        [
            "# HELP ecs_operator_reconcile_duration_seconds Time each handler call took.",
            "# TYPE ecs_operator_reconcile_duration_seconds histogram",
            'ecs_operator_reconcile_duration_seconds_count{kind="ECSService",handler="service_changed",outcome="success"} 40',
            'ecs_operator_reconcile_duration_seconds_count{kind="ECSService",handler="service_deleted",outcome="error"} 3',
            'ecs_operator_reconcile_duration_seconds_count{kind="ECSTask",handler="ecstask_changed",outcome="error"} 2.0',
            'ecs_operator_reconcile_duration_seconds_sum{kind="ECSTask",handler="ecstask_changed",outcome="error"} 9.5',
            'ecs_operator_api_requests_total{verb="get",code="200"} 12',
            "",
        ]
    )
    assert soak.metric_series(text) == 5
    assert soak.handler_errors(text) == 5


def test_handler_failures_in_kopfs_log_by_handler_and_kind():
    log = "\n".join(
        [
            "[soak/c3] Handler 'service_deleted' failed temporarily: draining: 1 tasks still stopping",
            "[soak/c4] Handler 'service_deleted' failed temporarily: draining: 2 tasks still stopping",
            "[ip-10-9-0-3] Handler 'node_event' failed with an exception and will ignore it: 422 Invalid",
            "[soak/s1] Handler 'service_changed' succeeded.",
        ]
    )
    assert soak.log_failures(log) == {
        "service_deleted temporarily": 2,
        "node_event with an exception": 1,
    }


# -- the exact final state -----------------------------------------------------------------


def svc_body(name, count=3, td="s0:2", running=None, generation=4, observed=4, ready="True", deployments=None):
    return {
        "metadata": {"name": name, "generation": generation},
        "status": {
            "desiredCount": count,
            "runningCount": count if running is None else running,
            "pendingCount": 0,
            "taskDefinition": td,
            "rolloutState": "COMPLETED",
            "deployments": [{"taskDefinition": d} for d in (deployments or [td])],
            "conditions": [{"type": "Ready", "status": ready, "observedGeneration": observed}],
        },
    }


def dep(name, replicas=3):
    return {"metadata": {"name": name}, "spec": {"replicas": replicas}}


def pod(owner, image="nginx:1.28", phase="Running", deleting=False, label="ecs.seed.dev/service"):
    md = {"name": f"{owner}-x", "labels": {label: owner}}
    if deleting:
        md["deletionTimestamp"] = "2026-12-02T00:00:00Z"
    return {"metadata": md, "spec": {"containers": [{"image": image}]}, "status": {"phase": phase}}


WANT = {"s0": soak.Want(3, "nginx:1.28")}
REV = {"s0": 2}
PODS = [pod("s0"), pod("s0"), pod("s0")]


@pytest.mark.parametrize(
    "services,deployments,pods,tasks,gone,differs",
    [
        ([svc_body("s0")], [dep("s0")], PODS, [], set(), {}),
        # a terminating pod of a steady service is not counted (and not missed)
        ([svc_body("s0")], [dep("s0")], [*PODS, pod("s0", deleting=True)], [], set(), {}),
        ([], [dep("s0")], PODS, [], set(), {"s0": "no ECSService"}),
        ([svc_body("s0", running=2)], [dep("s0")], PODS, [], set(), {"s0": "status"}),
        ([svc_body("s0", td="s0:1")], [dep("s0")], PODS, [], set(), {"s0": "status"}),
        ([svc_body("s0", deployments=["s0:2", "s0:1"])], [dep("s0")], PODS, [], set(), {"s0": "deployments"}),
        ([svc_body("s0", observed=3)], [dep("s0")], PODS, [], set(), {"s0": "not Ready"}),
        ([svc_body("s0", ready="False")], [dep("s0")], PODS, [], set(), {"s0": "not Ready"}),
        ([svc_body("s0")], [dep("s0", 4)], PODS, [], set(), {"s0": "Deployment replicas 4"}),
        ([svc_body("s0")], [dep("s0")], PODS[:2], [], set(), {"s0": "2 running"}),
        ([svc_body("s0")], [dep("s0")], [*PODS[:2], pod("s0", image="nginx:1.27")], [], set(), {"s0": "2 running"}),
        ([svc_body("s0")], [dep("s0")], [*PODS[:2], pod("s0", phase="Pending")], [], set(), {"s0": "2 running"}),
        # deleted services and tasks leave nothing behind, terminating pods included
        ([svc_body("s0")], [dep("s0")], PODS, [], {"c1", "t2"}, {}),
        ([svc_body("s0"), svc_body("c1")], [dep("s0")], PODS, [], {"c1"}, {"c1": "deleted, but ECSService left"}),
        ([svc_body("s0")], [dep("s0"), dep("c1")], PODS, [], {"c1"}, {"c1": "deleted, but Deployment left"}),
        ([svc_body("s0")], [dep("s0")], [*PODS, pod("c1", deleting=True)], [], {"c1"}, {"c1": "deleted, but pods"}),
        (
            [svc_body("s0")],
            [dep("s0")],
            [*PODS, pod("t2", label="ecs.seed.dev/task")],
            [{"metadata": {"name": "t2"}}],
            {"t2"},
            {"t2": "deleted, but ECSTask, pods left"},
        ),
    ],
)
def test_differences_from_the_exact_final_state(services, deployments, pods, tasks, gone, differs):
    got = soak.differences(WANT, REV, services, deployments, pods, tasks, gone)
    assert set(got) == set(differs)
    for name, start in differs.items():
        assert got[name].startswith(start), got[name]


def test_no_revision_registered_differs():
    got = soak.differences(WANT, {}, [svc_body("s0")], [dep("s0")], PODS, [], set())
    assert got == {"s0": "no registered revision"}
