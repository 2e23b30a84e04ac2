"""versionConsistency: image references, which containers are pinned, the pinned pod template,
the records a deployment reuses (table-driven), and the registry client against an in-process
registry that speaks the Registry HTTP API v2 with an anonymous bearer-token challenge."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from ecs_operator.k8s import registry as registry_module
from ecs_operator.k8s.registry import ACCEPT, RegistryClient
from ecs_operator.models.generated import RegisterTaskDefinitionRequest
from ecs_operator.state.images import resolve_images
from ecs_operator.translate.images import (
    UNRESOLVED_AT_START,
    ContainerImage,
    ImageRef,
    from_ecs,
    parse_reference,
    pin_template,
    pinned,
    to_resolve,
    unresolved_warnings,
)

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64

REFERENCES: dict[str, ImageRef | None] = {
    "busybox": ImageRef("docker.io", "library/busybox", "latest", None),
    "busybox:1.36": ImageRef("docker.io", "library/busybox", "1.36", None),
    "nginx/nginx:stable": ImageRef("docker.io", "nginx/nginx", "stable", None),
    "docker.io/library/nginx:1.27": ImageRef("docker.io", "library/nginx", "1.27", None),
    "public.ecr.aws/docker/library/httpd:2.4": ImageRef("public.ecr.aws", "docker/library/httpd", "2.4", None),
    "172.31.7.1:5000/library/busybox:latest": ImageRef("172.31.7.1:5000", "library/busybox", "latest", None),
    "localhost:5000/app": ImageRef("localhost:5000", "app", "latest", None),
    "localhost/app:v1": ImageRef("localhost", "app", "v1", None),
    f"busybox@{D1}": ImageRef("docker.io", "library/busybox", "latest", D1),
    f"busybox:1.36@{D1}": ImageRef("docker.io", "library/busybox", "1.36", D1),
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v2": ImageRef(
        "123456789012.dkr.ecr.us-east-1.amazonaws.com", "web", "v2", None
    ),
    "Busybox": None,  # repository names are lower case
    "busybox:bad tag": None,
    "busybox@sha256:short": None,
    "": None,
}


@pytest.mark.parametrize("image", sorted(REFERENCES))
def test_parse_reference(image: str) -> None:
    assert parse_reference(image) == REFERENCES[image]


def test_docker_hub_api_host() -> None:
    assert parse_reference("busybox").api_host == "registry-1.docker.io"  # type: ignore[union-attr]
    assert parse_reference("localhost:5000/app").api_host == "localhost:5000"  # type: ignore[union-attr]


def _td(*containers: dict[str, Any]) -> RegisterTaskDefinitionRequest:
    return RegisterTaskDefinitionRequest.model_validate({"family": "f", "containerDefinitions": list(containers)})


TO_RESOLVE: dict[str, tuple[list[dict[str, Any]], dict[str, str]]] = {
    "default is enabled": ([{"name": "a", "image": "busybox"}], {"a": "busybox"}),
    "enabled": ([{"name": "a", "image": "busybox", "versionConsistency": "enabled"}], {"a": "busybox"}),
    "disabled: runs as named": ([{"name": "a", "image": "busybox", "versionConsistency": "disabled"}], {}),
    "already a digest": ([{"name": "a", "image": f"busybox@{D1}"}], {}),
    "not a reference": ([{"name": "a", "image": "Not An Image"}], {}),
    "several, in order": (
        [{"name": "b", "image": "nginx:1"}, {"name": "a", "image": "busybox", "versionConsistency": "disabled"}],
        {"b": "nginx:1"},
    ),
}


@pytest.mark.parametrize("case", sorted(TO_RESOLVE))
def test_to_resolve(case: str) -> None:
    containers, expected = TO_RESOLVE[case]
    assert to_resolve(_td(*containers)) == expected


TEMPLATE = {
    "metadata": {"labels": {"x": "y"}},
    "spec": {
        "initContainers": [{"name": "init-a", "image": "busybox"}],
        "containers": [{"name": "web", "image": "nginx:1.27"}, {"name": "side", "image": "busybox"}],
    },
}
NAMES = {"init_a": "init-a", "web": "web", "side": "side"}

PIN: dict[str, tuple[list[ContainerImage], dict[str, str]]] = {
    "nothing resolved": ([], {"init-a": "busybox", "web": "nginx:1.27", "side": "busybox"}),
    "main and init containers": (
        [ContainerImage("web", "nginx:1.27", D1), ContainerImage("init_a", "busybox", D2)],
        {"init-a": f"busybox@{D2}", "web": f"nginx:1.27@{D1}", "side": "busybox"},
    ),
    "unresolved keeps the tag": (
        [ContainerImage("web", "nginx:1.27", None, "down")],
        {"init-a": "busybox", "web": "nginx:1.27", "side": "busybox"},
    ),
    "a record of another image is not applied": (
        [ContainerImage("web", "nginx:1.26", D1)],
        {"init-a": "busybox", "web": "nginx:1.27", "side": "busybox"},
    ),
    "an unknown container is ignored": (
        [ContainerImage("gone", "busybox", D1)],
        {"init-a": "busybox", "web": "nginx:1.27", "side": "busybox"},
    ),
}


@pytest.mark.parametrize("case", sorted(PIN))
def test_pin_template(case: str) -> None:
    images, expected = PIN[case]
    out = pin_template(TEMPLATE, NAMES, images)
    spec = out["spec"]
    assert {c["name"]: c["image"] for c in spec["containers"] + spec["initContainers"]} == expected
    assert TEMPLATE["spec"]["containers"][0]["image"] == "nginx:1.27", "the input is not changed"


def test_pinned_replaces_a_digest() -> None:
    assert pinned(f"busybox@{D1}", D2) == f"busybox@{D2}"


RECORDS: dict[str, tuple[list[dict[str, Any]], list[ContainerImage]]] = {
    "resolved": (
        [{"containerName": "a", "image": "busybox", "imageDigest": D1}],
        [ContainerImage("a", "busybox", D1)],
    ),
    "unresolved keeps its reason": (
        [{"containerName": "a", "image": "busybox"}],
        [ContainerImage("a", "busybox", None, UNRESOLVED_AT_START)],
    ),
    "a bad digest is no digest": (
        [{"containerName": "a", "image": "busybox", "imageDigest": "nope"}],
        [ContainerImage("a", "busybox", None, UNRESOLVED_AT_START)],
    ),
    "incomplete entries dropped": ([{"containerName": "a"}, {"image": "x"}, {"containerName": 3, "image": "y"}], []),
}


@pytest.mark.parametrize("case", sorted(RECORDS))
def test_records(case: str) -> None:
    entries, expected = RECORDS[case]
    assert from_ecs(entries) == expected


def test_ecs_shape_round_trips() -> None:
    images = [ContainerImage("a", "busybox", D1), ContainerImage("b", "nginx", None, "down")]
    assert [ci.as_ecs() for ci in images] == [
        {"containerName": "a", "image": "busybox", "imageDigest": D1},
        {"containerName": "b", "image": "nginx"},
    ]
    assert from_ecs(ci.as_ecs() for ci in images)[0] == images[0]


def test_unresolved_warnings_name_the_container() -> None:
    ws = unresolved_warnings([ContainerImage("a", "busybox", D1), ContainerImage("b", "nginx", None, "HTTP 500")])
    assert [w.field for w in ws] == ["containerDefinitions[b].versionConsistency"]
    assert "HTTP 500" in ws[0].message and "'nginx'" in ws[0].message


# -- the registry client, against an in-process registry --------------------------------------

TOKEN = "anonymous-token-1"


class _Registry:
    """Tags -> manifests; requires a bearer token when ``auth``; may omit the digest header."""

    def __init__(self) -> None:
        self.manifests: dict[tuple[str, str], bytes] = {}
        self.auth = False
        self.digest_header = True
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.port = 0

    def put(self, repo: str, tag: str, content: bytes) -> str:
        self.manifests[(repo, tag)] = content
        return "sha256:" + hashlib.sha256(content).hexdigest()


@pytest.fixture
def fake_registry() -> Iterator[_Registry]:
    reg = _Registry()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, body: bool) -> None:
            reg.requests.append((self.command, self.path, dict(self.headers.items())))
            if self.path.startswith("/token"):
                data = json.dumps({"token": TOKEN}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            if reg.auth and self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.send_response(401)
                realm = f"http://127.0.0.1:{reg.port}/token"
                self.send_header("WWW-Authenticate", f'Bearer realm="{realm}",service="fake",scope="x"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            _, _, repo_and_tag = self.path.partition("/v2/")
            repo, _, tag = repo_and_tag.partition("/manifests/")
            content = reg.manifests.get((repo, tag))
            if content is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.index.v1+json")
            self.send_header("Content-Length", str(len(content)))
            if reg.digest_header:
                self.send_header("Docker-Content-Digest", "sha256:" + hashlib.sha256(content).hexdigest())
            self.end_headers()
            if body:
                self.wfile.write(content)

        def do_HEAD(self) -> None:
            self._answer(False)

        def do_GET(self) -> None:
            self._answer(True)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    reg.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield reg
    finally:
        server.shutdown()
        server.server_close()


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_resolves_a_tag_with_head_and_every_manifest_type(fake_registry: _Registry) -> None:
    digest = fake_registry.put("library/busybox", "latest", b'{"manifests": []}')
    c = RegistryClient()
    got = c.resolve(f"127.0.0.1:{fake_registry.port}/library/busybox")
    assert (got.digest, got.reason) == (digest, None)
    method, path, headers = fake_registry.requests[-1]
    assert (method, path) == ("HEAD", "/v2/library/busybox/manifests/latest")
    assert headers["Accept"] == ACCEPT and "application/vnd.oci.image.index.v1+json" in ACCEPT


def test_anonymous_bearer_token_flow(fake_registry: _Registry) -> None:
    fake_registry.auth = True
    digest = fake_registry.put("team/app", "v1", b"manifest-v1")
    got = RegistryClient().resolve(f"127.0.0.1:{fake_registry.port}/team/app:v1")
    assert got.digest == digest
    token_request = next(r for r in fake_registry.requests if r[1].startswith("/token"))
    assert "service=fake" in token_request[1] and "scope=x" in token_request[1]
    assert fake_registry.requests[-1][2]["Authorization"] == f"Bearer {TOKEN}"


def test_a_missing_digest_header_falls_back_to_the_manifest_bytes(fake_registry: _Registry) -> None:
    fake_registry.digest_header = False
    digest = fake_registry.put("app", "v1", b"some manifest bytes")
    assert RegistryClient().resolve(f"127.0.0.1:{fake_registry.port}/app:v1").digest == digest
    assert [r[0] for r in fake_registry.requests] == ["HEAD", "GET"]


def test_an_unknown_tag_is_reported(fake_registry: _Registry) -> None:
    got = RegistryClient().resolve(f"127.0.0.1:{fake_registry.port}/app:nope")
    assert got.digest is None and "no tag 'nope'" in (got.reason or "")


def test_digests_are_cached_and_asked_again_later(fake_registry: _Registry) -> None:
    fake_registry.put("app", "v1", b"one")
    clock = _Clock()
    c = RegistryClient(clock=clock, digest_ttl=10)
    ref = f"127.0.0.1:{fake_registry.port}/app:v1"
    first = c.resolve(ref).digest
    new = fake_registry.put("app", "v1", b"two")  # the tag moves
    assert c.resolve(ref).digest == first and len(fake_registry.requests) == 1
    clock.now = 11
    assert c.resolve(ref).digest == new and len(fake_registry.requests) == 2


def test_expired_digests_are_forgotten_and_the_cache_is_bounded(
    fake_registry: _Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry_module, "MAX_DIGESTS", 20)
    clock = _Clock()
    c = RegistryClient(clock=clock, digest_ttl=10)
    for i in range(5):
        fake_registry.put("app", f"old{i}", b"old%d" % i)
        c.resolve(f"127.0.0.1:{fake_registry.port}/app:old{i}")
    clock.now = 11  # every one of them expired: the next store drops them
    fake_registry.put("app", "new", b"new")
    c.resolve(f"127.0.0.1:{fake_registry.port}/app:new")
    assert [k[2] for k in c._digests] == ["new"]
    for i in range(25):  # live ones past the bound: all dropped, then the new one kept
        fake_registry.put("app", f"live{i}", b"live%d" % i)
        c.resolve(f"127.0.0.1:{fake_registry.port}/app:live{i}")
    assert len(c._digests) <= 20


def test_an_unreachable_registry_is_not_asked_again_for_a_while() -> None:
    clock = _Clock()
    c = RegistryClient(clock=clock, failure_ttl=30, timeout=2)
    first = c.resolve("127.0.0.1:1/app:v1")  # nothing listens on port 1
    assert first.digest is None and "cannot be reached" in (first.reason or "")
    assert c.resolve("127.0.0.1:1/other:v2") == first  # from the failure cache


def test_a_pinned_image_needs_no_registry() -> None:
    assert RegistryClient().resolve(f"busybox@{D1}").digest == D1


def test_a_deployment_reuses_its_records_and_asks_only_for_the_rest(fake_registry: _Registry) -> None:
    base = f"127.0.0.1:{fake_registry.port}"
    d_app = fake_registry.put("app", "v1", b"app-1")
    fake_registry.put("side", "v1", b"side-1")
    td = _td(
        {"name": "app", "image": f"{base}/app:v1"},
        {"name": "side", "image": f"{base}/side:v1"},
        {"name": "pinned", "image": f"{base}/side@{D2}"},
        {"name": "free", "image": f"{base}/side:v1", "versionConsistency": "disabled"},
    )
    recorded = [{"containerName": "side", "image": f"{base}/side:v1", "imageDigest": D1}]
    images = resolve_images(td, recorded, client=RegistryClient())
    assert images == [ContainerImage("app", f"{base}/app:v1", d_app), ContainerImage("side", f"{base}/side:v1", D1)]
    assert [r[1] for r in fake_registry.requests] == ["/v2/app/manifests/v1"], "only the new container is asked"
