"""Local images assembled from Debian files (ecs_operator.dev.images): determinism, contents,
manifest/config shape, the repository table and the registry push protocol (against an
in-process fake registry, so no registry binary is needed)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import os
import posixpath
import re
import tarfile
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from ecs_operator.dev import images as im

HOST_FILES = (im.BUSYBOX, im.BASH, im.NGINX, im.APACHE, im.MIME_TYPES)
if not all(os.path.exists(p) for p in HOST_FILES):
    pytest.skip(
        "needs Debian's busybox, bash, nginx-light and apache2 (hack/install-node-packages.sh)",
        allow_module_level=True,
    )

FAKE_PAUSE = b"\x7fELF not really the pause binary\n"


@pytest.fixture(scope="module")
def pause_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pause") / "pause"
    path.write_bytes(FAKE_PAUSE)
    return path


@pytest.fixture(scope="module")
def images(pause_binary: Path) -> dict[str, im.Image]:
    return im.build_images(pause_binary)


# --------------------------------------------------------------------------------------------
# Helpers: an image's merged filesystem, as a runtime would unpack it


@dataclass(frozen=True)
class Node:
    info: tarfile.TarInfo
    data: bytes


@functools.cache
def layer_members(layer: im.Layer) -> tuple[Node, ...]:
    """A layer's entries with their data (cached: several tests read the same layers)."""
    nodes = []
    with tarfile.open(fileobj=io.BytesIO(layer.blob), mode="r:gz") as tar:
        for info in tar.getmembers():
            f = tar.extractfile(info) if info.isfile() else None
            nodes.append(Node(info, f.read() if f else b""))
    return tuple(nodes)


def filesystem(image: im.Image) -> dict[str, Node]:
    fs: dict[str, Node] = {}
    for layer in image.layers:
        for node in layer_members(layer):
            fs[node.info.name.rstrip("/")] = node
    return fs


def resolve(fs: dict[str, Node], path: str) -> str:
    """Follow symlinks (parents and the final component) inside the image."""
    parts = [p for p in path.split("/") if p]
    done: list[str] = []
    for _ in range(200):
        if not parts:
            return "/".join(done)
        part = parts.pop(0)
        node = fs.get("/".join([*done, part]))
        if node is not None and node.info.issym():
            start = "/" if node.info.linkname.startswith("/") else "/" + "/".join(done)
            joined = posixpath.normpath(posixpath.join(start, node.info.linkname, *parts))
            parts, done = [p for p in joined.split("/") if p], []
        else:
            done.append(part)
    raise AssertionError(f"symlink loop at {path}")


def node_at(fs: dict[str, Node], path: str) -> Node:
    resolved = resolve(fs, path)
    assert resolved in fs, f"{path} (-> {resolved}) missing"
    return fs[resolved]


@pytest.fixture(scope="module")
def filesystems(images: dict[str, im.Image]) -> dict[str, dict[str, Node]]:
    return {name: filesystem(image) for name, image in images.items()}


# --------------------------------------------------------------------------------------------
# Determinism and layer hygiene


def test_two_builds_give_identical_digests(images: dict[str, im.Image], pause_binary: Path) -> None:
    again = im.build_images(pause_binary)
    assert {n: i.digest for n, i in again.items()} == {n: i.digest for n, i in images.items()}
    assert {n: i.config_digest for n, i in again.items()} == {n: i.config_digest for n, i in images.items()}


def test_common_layer_is_shared_and_pause_has_its_own(images: dict[str, im.Image]) -> None:
    common = images["busybox"].layers[0].digest
    assert images["nginx"].layers[0].digest == common
    assert images["httpd"].layers[0].digest == common
    assert [l.digest for l in images["pause"].layers] != [common]
    assert len(images["pause"].layers) == 1


@pytest.mark.parametrize("name", ["busybox", "nginx", "httpd", "pause"])
def test_layers_are_normalised(images: dict[str, im.Image], name: str) -> None:
    for layer in images[name].layers:
        assert layer.blob[4:8] == b"\0\0\0\0", "gzip header mtime must be 0"
        nodes = layer_members(layer)
        names = [n.info.name.rstrip("/") for n in nodes]
        assert names == sorted(names, key=lambda p: p.split("/")), "entries sorted, parents first"
        assert len(names) == len(set(names))
        for node in nodes:
            assert node.info.mtime == 0, node.info.name
            if (node.info.uid, node.info.gid) != (0, 0):
                # Only nginx's worker-writable temp directories belong to someone else.
                assert name == "nginx" and node.info.name.startswith("var/lib/nginx/"), node.info.name
                assert (node.info.uid, node.info.gid) == (im.NGINX_UID, 0)


def test_upper_layers_do_not_repeat_the_common_layer(images: dict[str, im.Image]) -> None:
    common = {n.info.name: n for n in layer_members(images["busybox"].layers[0])}
    for name in ("nginx", "httpd"):
        for node in layer_members(images[name].layers[1]):
            lower = common.get(node.info.name)
            if lower is not None and node.info.name != "usr/bin/sh":  # httpd's sh -> bash
                assert (lower.info.type, lower.data, lower.info.linkname) != (
                    node.info.type,
                    node.data,
                    node.info.linkname,
                ), f"{name} repeats {node.info.name}"


def test_layer_cache_reuses_the_compressed_blob(tmp_path: Path) -> None:
    tree = im.Tree()
    tree.put("etc/motd", im.regular("hello\n"))
    first = im.make_layer(tree, "t", tmp_path)
    cached = list(tmp_path.iterdir())
    assert [p.name for p in cached] == [f"{first.diff_id.removeprefix('sha256:')}.gz{im.GZIP_LEVEL}"]
    second = im.make_layer(tree, "t", tmp_path)
    assert (second.digest, second.diff_id) == (first.digest, first.diff_id)
    assert im.make_layer(tree, "t").digest == first.digest


# --------------------------------------------------------------------------------------------
# Contents


def test_every_busybox_applet_is_there_and_real_files_win(
    filesystems: dict[str, dict[str, Node]],
) -> None:
    fs = filesystems["busybox"]
    for applet in im.busybox_applets():
        assert resolve(fs, applet) in fs, applet
    assert node_at(fs, "bin/busybox").info.isfile()
    assert node_at(fs, "bin/bash").data == Path(im.BASH).read_bytes()
    assert resolve(fs, "bin/sh") == "usr/bin/busybox"


@pytest.mark.parametrize("name", ["busybox", "nginx", "httpd"])
def test_no_curl_anywhere(filesystems: dict[str, dict[str, Node]], name: str) -> None:
    assert not [p for p in filesystems[name] if "curl" in posixpath.basename(p)]


@pytest.mark.parametrize(
    "name,path,kind,check",
    [
        # common userland
        ("busybox", "lib64/ld-linux-x86-64.so.2", "file", None),
        ("busybox", "usr/lib/x86_64-linux-gnu/libc.so.6", "file", None),
        ("busybox", "usr/lib/x86_64-linux-gnu/libtinfo.so.6", "file", None),
        ("busybox", "usr/lib/x86_64-linux-gnu/libgcc_s.so.1", "file", None),
        ("busybox", "etc/passwd", "file", "nginx:x:101:101:"),
        ("busybox", "etc/passwd", "file", "www-data:x:33:33:"),
        ("busybox", "etc/passwd", "file", "nobody:x:65534:65534:"),
        ("busybox", "etc/group", "file", "daemon:x:1:"),
        ("busybox", "etc/nsswitch.conf", "file", "passwd:         files"),
        ("busybox", "tmp", "dir", 0o1777),
        ("busybox", "root", "dir", None),
        ("busybox", "var/run", "dir", None),
        # nginx
        ("nginx", "usr/sbin/nginx", "file", 0o755),
        ("nginx", "etc/nginx/nginx.conf", "file", "user  nginx;"),
        ("nginx", "etc/nginx/nginx.conf", "file", "include /etc/nginx/conf.d/*.conf;"),
        ("nginx", "etc/nginx/mime.types", "file", "text/html"),
        ("nginx", "etc/nginx/conf.d/default.conf", "file", "listen       80;"),
        ("nginx", "etc/nginx/conf.d/default.conf", "file", "root   /usr/share/nginx/html;"),
        ("nginx", "usr/share/nginx/html/index.html", "file", "<h1>Welcome to nginx!</h1>"),
        ("nginx", "usr/share/nginx/html/50x.html", "file", None),
        ("nginx", "var/lib/nginx/body", "dir", 0o700),
        ("nginx", "usr/lib/x86_64-linux-gnu/libssl.so.3", "file", None),
        # httpd
        ("httpd", "usr/sbin/apache2", "file", 0o755),
        ("httpd", "usr/local/apache2/bin/httpd", "file", "-d /usr/local/apache2 -f conf/httpd.conf"),
        ("httpd", "usr/local/apache2/bin/httpd-foreground", "file", 'exec httpd -DFOREGROUND "$@"'),
        ("httpd", "usr/local/apache2/bin/httpd-foreground", "file", 0o755),
        ("httpd", "usr/local/apache2/conf/httpd.conf", "file", "\nListen 80\n"),
        ("httpd", "usr/local/apache2/conf/httpd.conf", "file", "\nUser daemon\nGroup daemon\n"),
        ("httpd", "usr/local/apache2/conf/httpd.conf", "file", 'DocumentRoot "/usr/local/apache2/htdocs"'),
        ("httpd", "usr/local/apache2/conf/httpd.conf", "file", "ErrorLog /proc/self/fd/2"),
        ("httpd", "usr/local/apache2/conf/httpd.conf", "file", "CustomLog /proc/self/fd/1 common"),
        ("httpd", "usr/local/apache2/conf/mime.types", "file", "text/html"),
        ("httpd", "usr/local/apache2/htdocs/index.html", "file", "<html><body><h1>It works!</h1></body></html>"),
        ("httpd", "usr/local/apache2/logs", "dir", None),
        ("httpd", "usr/local/apache2/modules/mod_mpm_event.so", "file", None),
        ("httpd", "usr/lib/x86_64-linux-gnu/libapr-1.so.0", "file", None),
    ],
)
def test_image_paths(filesystems: dict[str, dict[str, Node]], name: str, path: str, kind: str, check: object) -> None:
    node = node_at(filesystems[name], path)
    assert node.info.isfile() if kind == "file" else node.info.isdir(), f"{path} is not a {kind}"
    if isinstance(check, str):
        assert check in node.data.decode(errors="replace")
    elif isinstance(check, int):
        assert node.info.mode == check


@pytest.mark.parametrize(
    "name,path,target",
    [
        ("nginx", "var/log/nginx/access.log", "/dev/stdout"),
        ("nginx", "var/log/nginx/error.log", "/dev/stderr"),
        ("busybox", "var/run", "/run"),
        ("busybox", "bin", "usr/bin"),
        # busybox-static's ash runs applets before searching PATH: `httpd` must reach Apache
        ("httpd", "usr/bin/sh", "bash"),
    ],
)
def test_symlinks(filesystems: dict[str, dict[str, Node]], name: str, path: str, target: str) -> None:
    node = filesystems[name][path]
    assert node.info.issym() and node.info.linkname == target


def test_httpd_conf_modules_exist(filesystems: dict[str, dict[str, Node]]) -> None:
    fs = filesystems["httpd"]
    conf = node_at(fs, "usr/local/apache2/conf/httpd.conf").data.decode()
    loaded = re.findall(r"^LoadModule \S+ (\S+)$", conf, re.M)
    assert len(loaded) == len(im.HTTPD_MODULES)
    for rel in loaded:
        assert node_at(fs, f"usr/local/apache2/{rel}").info.isfile(), rel


def test_nginx_compiled_in_paths_exist(filesystems: dict[str, dict[str, Node]]) -> None:
    fs = filesystems["nginx"]
    for option, value in im.nginx_compiled_paths().items():
        if not value.startswith("/") or option == "modules-path":
            continue
        if option.endswith("-temp-path"):
            node = node_at(fs, value)
            assert node.info.isdir() and node.info.uid == im.NGINX_UID, option
        elif option in ("pid-path", "lock-path"):
            assert node_at(fs, posixpath.dirname(value)).info.isdir(), option
        else:
            assert resolve(fs, value) in fs or resolve(fs, value).startswith("dev/"), option


@pytest.mark.parametrize("name", ["busybox", "nginx", "httpd"])
def test_elf_files_have_their_libraries(filesystems: dict[str, dict[str, Node]], name: str) -> None:
    fs = filesystems[name]
    elves = [p for p, n in fs.items() if n.info.isfile() and n.data[:4] == b"\x7fELF"]
    assert elves
    for path in elves:
        for lib in im.shared_libraries("/" + path):
            assert resolve(fs, lib) in fs, f"{path} needs {lib}"


# --------------------------------------------------------------------------------------------
# Manifest and config


@pytest.mark.parametrize("name", ["busybox", "nginx", "httpd", "pause"])
def test_manifest_and_config_shape(images: dict[str, im.Image], name: str) -> None:
    image = images[name]
    manifest = json.loads(image.manifest)
    config = json.loads(image.config)
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == im.MEDIA_MANIFEST
    assert manifest["config"] == {
        "mediaType": im.MEDIA_CONFIG,
        "size": len(image.config),
        "digest": "sha256:" + hashlib.sha256(image.config).hexdigest(),
    }
    assert [l["mediaType"] for l in manifest["layers"]] == [im.MEDIA_LAYER] * len(image.layers)
    assert [(l["digest"], l["size"]) for l in manifest["layers"]] == [
        ("sha256:" + hashlib.sha256(l.blob).hexdigest(), len(l.blob)) for l in image.layers
    ]
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    assert config["rootfs"]["type"] == "layers"
    assert config["rootfs"]["diff_ids"] == [
        "sha256:" + hashlib.sha256(gzip.decompress(l.blob)).hexdigest() for l in image.layers
    ]
    assert len(config["history"]) == len(image.layers)
    assert image.digest == "sha256:" + hashlib.sha256(image.manifest).hexdigest()


@pytest.mark.parametrize(
    "name,expected",
    [
        ("busybox", {"Cmd": ["sh"]}),
        (
            "nginx",
            {
                "Cmd": ["nginx", "-g", "daemon off;"],
                "StopSignal": "SIGQUIT",
                "ExposedPorts": {"80/tcp": {}},
            },
        ),
        (
            "httpd",
            {
                "Cmd": ["httpd-foreground"],
                "StopSignal": "SIGWINCH",
                "ExposedPorts": {"80/tcp": {}},
                "WorkingDir": "/usr/local/apache2",
            },
        ),
        ("pause", {"Entrypoint": ["/pause"], "User": "65535:65535"}),
    ],
)
def test_runtime_config(images: dict[str, im.Image], name: str, expected: dict[str, object]) -> None:
    runtime = json.loads(images[name].config)["config"]
    for key, value in expected.items():
        assert runtime[key] == value, key
    path = next(e for e in runtime["Env"] if e.startswith("PATH="))
    assert path.endswith(im.DEFAULT_PATH)
    if name == "httpd":
        assert path.startswith("PATH=/usr/local/apache2/bin:")
    if name != "pause":
        assert "Entrypoint" not in runtime


def test_pause_image_is_just_the_binary(filesystems: dict[str, dict[str, Node]]) -> None:
    fs = filesystems["pause"]
    assert list(fs) == ["pause"]
    assert fs["pause"].data == FAKE_PAUSE and fs["pause"].info.mode == 0o755


# --------------------------------------------------------------------------------------------
# Repository table


EXPECTED_REFERENCES = [
    ("docker.io/library/busybox", "busybox", ("latest", "1.36", "stable")),
    ("docker.io/library/nginx", "nginx", ("latest", "1.27", "stable")),
    ("docker.io/library/httpd", "httpd", ("latest", "2.4")),
    ("public.ecr.aws/nginx/nginx", "nginx", ("latest", "1.27")),
    ("public.ecr.aws/docker/library/httpd", "httpd", ("latest", "2.4")),
    ("public.ecr.aws/docker/library/busybox", "busybox", ("latest",)),
    ("registry.k8s.io/pause", "pause", ("3.10",)),
]


@pytest.mark.parametrize("upstream,image,tags", EXPECTED_REFERENCES)
def test_repository_table(upstream: str, image: str, tags: tuple[str, ...]) -> None:
    repo = next(r for r in im.REPOSITORIES if f"{r.upstream}/{r.path}" == upstream)
    assert (repo.image, repo.tags) == (image, tags)
    assert repo.references() == [f"{upstream}:{t}" for t in tags]


def test_repository_table_is_complete(images: dict[str, im.Image]) -> None:
    assert len(im.REPOSITORIES) == len(EXPECTED_REFERENCES)
    assert len({r.path for r in im.REPOSITORIES}) == len(im.REPOSITORIES)
    assert {r.image for r in im.REPOSITORIES} == set(images)


# --------------------------------------------------------------------------------------------
# Tree semantics


def test_tree_resolves_through_base_symlinks_and_skips_identical_entries() -> None:
    base = im.Tree()
    base.put("bin", im.symlink("usr/bin"))
    base.put("usr/bin/tool", im.regular("x", 0o755))
    upper = im.Tree(base)
    assert upper.put("bin/tool", im.regular("x", 0o755)) == "usr/bin/tool"
    assert upper.entries == {}
    assert upper.put("bin/other", im.regular("y")) == "usr/bin/other"
    assert list(upper.entries) == ["usr/bin/other"]
    with pytest.raises(im.ImageError):
        upper.put("bin/tool", im.regular("different"))
    upper.put("bin/tool", im.regular("different"), replace=True)
    assert upper.entries["usr/bin/tool"].data == b"different"


# --------------------------------------------------------------------------------------------
# Registry protocol, against an in-process fake of the Registry API v2


class FakeRegistry(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), FakeRegistryHandler)
        self.blobs: dict[str, dict[str, bytes]] = {}  # repo -> digest -> bytes
        self.manifests: dict[tuple[str, str], bytes] = {}
        self.log: list[str] = []
        self.uploads = 0


class FakeRegistryHandler(BaseHTTPRequestHandler):
    server: FakeRegistry

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _route(self) -> tuple[str, str, str, dict[str, str]]:
        url = self.path.split("?", 1)
        query = dict(urllib.parse.parse_qsl(url[1])) if len(url) > 1 else {}
        m = re.fullmatch(r"/v2/(.+)/(blobs|manifests)/(uploads/?|[^/]+)(?:/(\w+))?", url[0])
        assert m, self.path
        self.server.log.append(f"{self.command} {m.group(2)}")
        return m.group(1), m.group(2), m.group(4) or m.group(3), query

    def do_GET(self) -> None:
        self._reply(200 if self.path == "/v2/" else 404, body=b"{}")

    def do_HEAD(self) -> None:
        repo, kind, ref, _ = self._route()
        if kind == "blobs":
            self._reply(200 if ref in self.server.blobs.get(repo, {}) else 404)
        else:
            body = self.server.manifests.get((repo, ref))
            if body is None:
                self._reply(404)
            else:
                digest = "sha256:" + hashlib.sha256(body).hexdigest()
                self._reply(200, {"Docker-Content-Digest": digest})

    def do_POST(self) -> None:
        repo, _, _, query = self._route()
        source = query.get("from")
        if source and query["mount"] in self.server.blobs.get(source, {}):
            self.server.blobs.setdefault(repo, {})[query["mount"]] = self.server.blobs[source][query["mount"]]
            self._reply(201)
            return
        self._reply(202, {"Location": f"/v2/{repo}/blobs/uploads/u1?_state=x"})

    def do_PUT(self) -> None:
        repo, kind, ref, query = self._route()
        body = self.rfile.read(int(self.headers["Content-Length"]))
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if kind == "blobs":
            assert query["digest"] == digest and "_state" in query
            self.server.blobs.setdefault(repo, {})[digest] = body
            self.server.uploads += 1
        else:
            assert self.headers["Content-Type"] == im.MEDIA_MANIFEST
            self.server.manifests[(repo, ref)] = body
        self._reply(201, {"Docker-Content-Digest": digest})


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    server = FakeRegistry()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_push_uploads_mounts_and_then_skips(images: dict[str, im.Image], registry: FakeRegistry) -> None:
    addr = f"127.0.0.1:{registry.server_address[1]}"
    nginx = images["nginx"]
    mounts: dict[str, str] = {}
    assert im.push(addr, nginx, "library/nginx", ["latest", "1.27"], mounts) == nginx.digest
    assert registry.uploads == 3  # config + two layers
    assert registry.manifests[("library/nginx", "latest")] == nginx.manifest

    # Another repository mounts the blobs instead of uploading them again.
    im.push(addr, nginx, "nginx/nginx", ["latest"], mounts)
    assert registry.uploads == 3
    assert set(registry.blobs["nginx/nginx"]) == {d for d, _ in nginx.blobs()}

    # Everything present: only HEAD requests.
    registry.log.clear()
    im.push(f"http://{addr}", nginx, "library/nginx", ["latest", "1.27"], {})
    assert registry.log and all(entry.startswith("HEAD") for entry in registry.log)


def test_registry_config() -> None:
    config = yaml.safe_load(im.registry_config("127.0.0.1:5000", Path("/var/lib/reg")))
    assert config["http"]["addr"] == "127.0.0.1:5000"
    assert config["storage"]["filesystem"]["rootdirectory"] == "/var/lib/reg"
    assert config["storage"]["delete"]["enabled"] is False
    assert config["log"]["level"] == "warn"
    assert config["health"]["storagedriver"]["enabled"] is False
    assert "auth" not in config


def test_wait_registry(registry: FakeRegistry) -> None:
    im.wait_registry(f"127.0.0.1:{registry.server_address[1]}", timeout=5)
    with pytest.raises(TimeoutError):
        im.wait_registry("127.0.0.1:1", timeout=0.2)
