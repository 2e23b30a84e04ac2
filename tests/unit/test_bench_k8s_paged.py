"""k8s list_ read a page at a time (``page_size`` / ``project``): every page is requested with
its continue token, each item passes through ``project``, and without either option the list is
one GET as before."""

from __future__ import annotations

import pytest
from ecs_operator import k8s


class _FakeServer:
    def __init__(self, n: int):
        self.items = [{"metadata": {"name": f"p{i}", "managedFields": [{"x": i}]}, "spec": {}} for i in range(n)]
        self.queries: list[dict[str, str]] = []

    def __call__(self, verb, method, url, *, body=None, query=None, content_type=""):
        q = dict(query or [])
        self.queries.append(q)
        if "limit" not in q:
            return {"metadata": {}, "items": list(self.items)}
        start, limit = int(q.get("continue") or 0), int(q["limit"])
        end = start + limit
        more = str(end) if end < len(self.items) else ""
        return {"metadata": {"continue": more} if more else {}, "items": self.items[start:end]}


@pytest.mark.parametrize(
    "n,page_size,pages",
    [(0, 10, 1), (5, 10, 1), (10, 10, 1), (11, 10, 2), (25, 10, 3)],
)
def test_paged_list_reads_every_page_and_projects_each_item(monkeypatch, n, page_size, pages):
    server = _FakeServer(n)
    monkeypatch.setattr(k8s._OPERATOR, "_call", server)
    got = k8s.list_(
        "v1",
        "Pod",
        "ns",
        labels={"a": "b"},
        page_size=page_size,
        project=lambda o: {"metadata": {"name": o["metadata"]["name"]}},
    )
    assert [o["metadata"]["name"] for o in got] == [f"p{i}" for i in range(n)]
    assert all("managedFields" not in o["metadata"] for o in got)
    assert len(server.queries) == pages
    assert all(q["labelSelector"] == "a=b" and q["limit"] == str(page_size) for q in server.queries)
    assert [q.get("continue", "") for q in server.queries] == [""] + [str(page_size * i) for i in range(1, pages)]


def test_without_options_a_list_is_one_get(monkeypatch):
    server = _FakeServer(3)
    monkeypatch.setattr(k8s._OPERATOR, "_call", server)
    assert len(k8s.list_("v1", "Pod", "ns")) == 3
    assert server.queries == [{}]


def test_a_projection_alone_pages_by_the_default_size(monkeypatch):
    server = _FakeServer(k8s.LIST_PAGE_SIZE + 1)
    monkeypatch.setattr(k8s._OPERATOR, "_call", server)
    assert len(k8s.list_("v1", "Pod", None, project=dict)) == k8s.LIST_PAGE_SIZE + 1
    assert len(server.queries) == 2
