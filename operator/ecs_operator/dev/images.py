"""Local container images for the development cluster, assembled from installed Debian files.

The local cluster's containerd pulls ``busybox``, ``nginx``, ``httpd`` and ``pause`` through a
registry mirror that runs on this machine, because the machine has no route to Docker Hub,
public.ecr.aws or registry.k8s.io. Nothing here downloads an image: each one is assembled from
the files that Debian packages installed on the host (busybox, bash, nginx-light,
apache2-bin) plus a small Go ``pause`` program from ``hack/pause``, laid out like the official
image so that ECS task definitions written for the real images behave the same.

Assembly is deterministic (sorted tar entries, uid/gid 0 unless a file needs another owner,
mtime 0, gzip mtime 0, canonical JSON): the same host files give the same digests, so a second
:func:`push_all` finds every blob and manifest already in the registry and sends nothing.

The registry side is the Docker Registry HTTP API v2 over plain HTTP (``urllib`` only), as
served by Debian's ``docker-registry`` (distribution 2.8); :func:`registry_config` and
:func:`wait_registry` help to run one for tests and ``dev`` commands.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import os
import posixpath
import re
import shutil
import stat
import subprocess
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import yaml

MEDIA_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HTTPD_PREFIX = "/usr/local/apache2"
# Fixed so that a layer's digest depends on its files only (and on the host's zlib).
GZIP_LEVEL = 6
# Image config timestamps are fixed for the same reason.
EPOCH = "1970-01-01T00:00:00Z"

# Host files the images are made of (Debian paths).
BUSYBOX = "/bin/busybox"  # Debian busybox (dynamically linked, glibc's NSS)
BASH = "/bin/bash"
NGINX = "/usr/sbin/nginx"  # nginx-light
NGINX_CONF_DIR = "/etc/nginx"  # nginx-common: mime.types and *_params
APACHE = "/usr/sbin/apache2"  # apache2-bin
APACHE_MODULES = "/usr/lib/apache2/modules"
MIME_TYPES = "/etc/mime.types"  # media-types, Apache's TypesConfig format
# The official httpd image's httpd.conf loads these; log_config, logio, version and unixd are
# compiled into Debian's apache2 and need no LoadModule.
HTTPD_MODULES = (
    "mpm_event",
    "authn_file",
    "authn_core",
    "authz_host",
    "authz_groupfile",
    "authz_user",
    "authz_core",
    "access_compat",
    "auth_basic",
    "reqtimeout",
    "filter",
    "mime",
    "env",
    "headers",
    "setenvif",
    "status",
    "autoindex",
    "dir",
    "alias",
)


class Repository(NamedTuple):
    """One repository of the local registry: what containerd asks the mirror for.

    containerd strips the upstream host when it asks a mirror, so ``docker.io/library/nginx``
    arrives as ``/v2/library/nginx/...`` and ``public.ecr.aws/nginx/nginx`` as
    ``/v2/nginx/nginx/...``.
    """

    path: str  # repository path inside the registry
    image: str  # which local image it serves (key of build_images())
    tags: tuple[str, ...]
    upstream: str  # the registry host an image reference names

    def references(self) -> list[str]:
        """The image references a task definition may use for this repository."""
        return [f"{self.upstream}/{self.path}:{tag}" for tag in self.tags]


REPOSITORIES: tuple[Repository, ...] = (
    Repository("library/busybox", "busybox", ("latest", "1.36", "stable"), "docker.io"),
    Repository("library/nginx", "nginx", ("latest", "1.27", "stable"), "docker.io"),
    Repository("library/httpd", "httpd", ("latest", "2.4"), "docker.io"),
    Repository("nginx/nginx", "nginx", ("latest", "1.27"), "public.ecr.aws"),
    Repository("docker/library/httpd", "httpd", ("latest", "2.4"), "public.ecr.aws"),
    Repository("docker/library/busybox", "busybox", ("latest",), "public.ecr.aws"),
    Repository("pause", "pause", ("3.10",), "registry.k8s.io"),
)

#: The chart's ecs-scheduler image (values.yaml scheduler.image), served when push_all is given
#: the kube-scheduler binary that hack/build-bins.sh built (same version as the control plane).
KUBE_SCHEDULER = Repository("kube-scheduler", "kube-scheduler", ("v1.36.3",), "registry.k8s.io")


class ImageError(RuntimeError):
    """An image could not be assembled or pushed."""


# --------------------------------------------------------------------------------------------
# File trees


Kind = Literal["dir", "file", "symlink"]


@dataclass(frozen=True)
class Entry:
    """One tar entry; mtime is always 0, so equal entries give equal bytes."""

    kind: Kind
    mode: int = 0o755
    data: bytes = b""
    target: str = ""  # symlink target
    uid: int = 0
    gid: int = 0


def directory(mode: int = 0o755, uid: int = 0, gid: int = 0) -> Entry:
    return Entry("dir", mode, uid=uid, gid=gid)


def regular(data: bytes | str, mode: int = 0o644) -> Entry:
    return Entry("file", mode, data.encode() if isinstance(data, str) else data)


def symlink(target: str) -> Entry:
    return Entry("symlink", 0o777, target=target)


@dataclass
class Tree:
    """The files of one layer, keyed by their path relative to ``/``.

    A tree may sit on a ``base`` tree (the layer below): paths resolve through the base's
    symlinks too (``/lib`` -> ``usr/lib``), and an entry identical to one in the base is left
    out, so that e.g. libc is stored once, in the common layer.
    """

    base: Tree | None = None
    entries: dict[str, Entry] = field(default_factory=dict)

    def lookup(self, path: str) -> Entry | None:
        """The entry at an exact (already resolved) path, in this tree or below."""
        found = self.entries.get(path)
        if found is None and self.base is not None:
            return self.base.lookup(path)
        return found

    def resolve(self, path: str) -> str:
        """The canonical path of ``path``: symlinked parent directories followed, the last
        component kept (so a symlink itself can be addressed)."""
        pending = [p for p in path.split("/") if p and p != "."]
        done: list[str] = []
        hops = 0
        while pending:
            part = pending.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            entry = self.lookup("/".join([*done, part]))
            if pending and entry is not None and entry.kind == "symlink":
                hops += 1
                if hops > 40:
                    raise ImageError(f"symlink loop at {path}")
                start = "/" if entry.target.startswith("/") else "/" + "/".join(done)
                joined = posixpath.normpath(posixpath.join(start, entry.target, *pending))
                pending = [p for p in joined.split("/") if p]
                done = []
                continue
            done.append(part)
        return "/".join(done)

    def exists(self, path: str) -> bool:
        return self.lookup(self.resolve(path)) is not None

    def put(self, path: str, entry: Entry, replace: bool = False) -> str:
        """Add ``entry`` at ``path`` (parents created as 0755 root directories) and return the
        resolved path. Re-adding an identical entry is a no-op; a different one is an error
        unless ``replace``, because two sources for one path is a bug in the image recipe."""
        resolved = self.resolve(path)
        if not resolved:
            raise ImageError(f"cannot add the root directory itself ({path!r})")
        self._ensure_parents(resolved)
        existing = self.lookup(resolved)
        if existing == entry:
            return resolved
        if existing is not None and not replace:
            raise ImageError(f"{resolved} is already in the image as a different {existing.kind}")
        self.entries[resolved] = entry
        return resolved

    def _ensure_parents(self, resolved: str) -> None:
        parts = resolved.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            parent = "/".join(parts[:i])
            existing = self.lookup(parent)
            if existing is None:
                self.entries[parent] = directory()
            elif existing.kind != "dir":
                raise ImageError(f"{parent} is a {existing.kind}, not a directory")

    def copy_host(self, host_path: str) -> str:
        """Copy a host file (or directory entry, not its contents) to the same path, keeping
        every symlink met on the way (``/bin`` -> ``usr/bin``, ``libfoo.so.1`` ->
        ``libfoo.so.1.2``) so the image resolves paths the way the host does. Returns the
        image path of the final, real file."""
        path = posixpath.normpath(host_path)
        for _ in range(40):
            parts = [p for p in path.split("/") if p]
            for i in range(len(parts)):
                prefix = "/" + "/".join(parts[: i + 1])
                st = os.lstat(prefix)
                if stat.S_ISLNK(st.st_mode):
                    target = os.readlink(prefix)
                    self.put(prefix, symlink(target))
                    path = posixpath.normpath(posixpath.join(posixpath.dirname(prefix), target, *parts[i + 1 :]))
                    break
            else:
                return self._copy_real(path)
        raise ImageError(f"too many symlinks resolving {host_path}")

    def _copy_real(self, path: str) -> str:
        st = os.stat(path)
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            return self.put(path, directory(mode))
        if not stat.S_ISREG(st.st_mode):
            raise ImageError(f"{path} is neither a regular file nor a directory")
        return self.put(path, regular(Path(path).read_bytes(), mode))

    def copy_elf(self, host_path: str) -> str:
        """Copy a program or shared object with its shared-library closure (``ldd`` lists it
        transitively, dynamic loader included), each library at its host path."""
        resolved = self.copy_host(host_path)
        libs = shared_libraries(host_path)
        for lib in libs + glibc_runtime_libraries(libs):
            self.copy_host(lib)
        return resolved


def shared_libraries(path: str) -> list[str]:
    """The shared libraries ``path`` loads, as ``ldd`` resolves them on this host; empty for a
    static binary or a non-ELF file."""
    with open(path, "rb") as f:
        if f.read(4) != b"\x7fELF":
            return []
    proc = subprocess.run(
        ["ldd", path],
        capture_output=True,
        text=True,
        env={**os.environ, "LC_ALL": "C"},
        check=False,
    )
    if proc.returncode != 0:
        if "not a dynamic executable" in proc.stdout + proc.stderr:
            return []
        raise ImageError(f"ldd {path} failed: {proc.stderr.strip()}")
    libs: list[str] = []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if "=>" in line:
            target = line.split("=>", 1)[1].strip()
            if target.startswith("not found"):
                raise ImageError(f"{path}: {line}")
            if target.startswith("/"):
                libs.append(target.split()[0])
        elif line.startswith("/"):
            libs.append(line.split()[0])
    return libs


def glibc_runtime_libraries(libs: Iterable[str]) -> list[str]:
    """Libraries glibc itself dlopens, which ``ldd`` cannot list: ``libgcc_s.so.1`` for
    ``pthread_exit``/``pthread_cancel`` unwinding. Without it Apache's mpm_event children abort
    ("libgcc_s.so.1 must be installed for pthread_exit to work") as soon as a thread exits."""
    extra: list[str] = []
    for lib in libs:
        if posixpath.basename(lib) == "libc.so.6":
            candidate = posixpath.join(posixpath.dirname(lib), "libgcc_s.so.1")
            if os.path.exists(candidate):
                extra.append(candidate)
    return extra


# --------------------------------------------------------------------------------------------
# Layers and images


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_bytes(tree: Tree) -> bytes:
    """The uncompressed layer tar of a tree's own entries, parents before children."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(tree.entries, key=lambda p: p.split("/")):
            entry = tree.entries[path]
            info = tarfile.TarInfo(path)
            info.mode = entry.mode
            info.uid, info.gid = entry.uid, entry.gid
            info.uname = info.gname = ""
            info.mtime = 0
            if entry.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif entry.kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = entry.target
                tar.addfile(info)
            else:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
    return buf.getvalue()


@dataclass(frozen=True)
class Layer:
    blob: bytes  # the gzip'd tar, as pushed
    diff_id: str  # sha256 of the uncompressed tar (the image config's rootfs.diff_ids)
    comment: str  # history entry

    @property
    def digest(self) -> str:
        return sha256_digest(self.blob)


def make_layer(tree: Tree, comment: str, cache_dir: Path | None = None) -> Layer:
    """Tar and gzip a tree. Compression is most of the build time, so with ``cache_dir`` the
    gzip'd blob is kept on disk under the tar's own digest (a digest of every input: paths,
    modes, owners and contents) and reused while the host files stay the same."""
    raw = tar_bytes(tree)
    diff_id = sha256_digest(raw)
    if cache_dir is None:
        return Layer(gzip.compress(raw, GZIP_LEVEL, mtime=0), diff_id, comment)
    cached = cache_dir / f"{diff_id.removeprefix('sha256:')}.gz{GZIP_LEVEL}"
    if cached.is_file():
        return Layer(cached.read_bytes(), diff_id, comment)
    blob = gzip.compress(raw, GZIP_LEVEL, mtime=0)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, cached)
    return Layer(blob, diff_id, comment)


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Image:
    name: str
    layers: tuple[Layer, ...]
    config: bytes
    manifest: bytes

    @property
    def digest(self) -> str:
        """The manifest digest: what a pulled image's ``imageID``/``@sha256:`` refers to."""
        return sha256_digest(self.manifest)

    @property
    def config_digest(self) -> str:
        return sha256_digest(self.config)

    @property
    def size(self) -> int:
        """Compressed size (config plus layers), what a pull transfers."""
        return len(self.config) + sum(len(layer.blob) for layer in self.layers)

    def blobs(self) -> list[tuple[str, bytes]]:
        """(digest, bytes) of every blob the manifest refers to, config first."""
        return [(self.config_digest, self.config)] + [(l.digest, l.blob) for l in self.layers]


def assemble(name: str, layers: Iterable[Layer], runtime: Mapping[str, Any]) -> Image:
    """Image config and schema2 manifest for ``layers``; ``runtime`` is the config's
    ``config`` object (Env, Cmd, Entrypoint, ...), as ``docker inspect`` shows it."""
    layers = tuple(layers)
    config = canonical_json(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": EPOCH,
            "config": dict(runtime),
            "rootfs": {"type": "layers", "diff_ids": [l.diff_id for l in layers]},
            "history": [{"created": EPOCH, "created_by": l.comment} for l in layers],
        }
    )
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {
                "mediaType": MEDIA_CONFIG,
                "size": len(config),
                "digest": sha256_digest(config),
            },
            "layers": [{"mediaType": MEDIA_LAYER, "size": len(l.blob), "digest": l.digest} for l in layers],
        }
    )
    return Image(name, layers, config, manifest)


# --------------------------------------------------------------------------------------------
# The common userland layer (busybox + bash), shared by every image except pause

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nginx:x:101:101:nginx user:/nonexistent:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""

GROUP = """\
root:x:0:
daemon:x:1:
www-data:x:33:
nginx:x:101:
nobody:x:65534:
nogroup:x:65534:
"""

# glibc 2.34+ has the files and dns backends built in, so no libnss_*.so is needed; hosts
# keeps dns so that pods resolve service names through the resolv.conf kubelet mounts.
NSSWITCH = """\
passwd:         files
group:          files
shadow:         files
hosts:          files dns
networks:       files
protocols:      files
services:       files
"""


def busybox_applets(busybox: str = BUSYBOX) -> list[str]:
    """Install paths of every applet this busybox build has (``usr/bin/wget``, ``bin/sh``)."""
    proc = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ImageError(f"{busybox} --list-full failed: {proc.stderr.strip()}")
    return sorted(line.strip() for line in proc.stdout.splitlines() if line.strip())


def common_tree() -> Tree:
    """busybox with every applet, GNU bash (``/dev/tcp`` redirections, ``[[``) and the
    minimal /etc that glibc programs and ``USER`` lookups need."""
    tree = Tree()
    # Debian is merged-/usr: keep /bin, /sbin, /lib, /lib64 as the symlinks they are, so the
    # paths ldd prints and busybox's applet paths both land in /usr.
    for top in ("/bin", "/sbin", "/lib", "/lib64"):
        if os.path.islink(top):
            tree.copy_host(top)
    tree.copy_elf(BASH)
    box = tree.copy_elf(BUSYBOX)
    for applet in busybox_applets():
        # Never shadow a real program (GNU bash, or anything a later version may list).
        if not tree.exists(applet):
            tree.put(applet, symlink("/" + box))
    tree.put("etc/passwd", regular(PASSWD))
    tree.put("etc/group", regular(GROUP))
    tree.put("etc/nsswitch.conf", regular(NSSWITCH))
    for path, mode in (
        ("tmp", 0o1777),
        ("var/tmp", 0o1777),
        ("root", 0o700),
        ("home", 0o755),
        ("run", 0o755),
        ("run/lock", 0o1777),
        ("dev", 0o755),
        ("proc", 0o555),
        ("sys", 0o555),
    ):
        tree.put(path, directory(mode))
    tree.put("var/run", symlink("/run"))
    tree.put("var/lock", symlink("/run/lock"))
    return tree


# --------------------------------------------------------------------------------------------
# nginx

NGINX_CONF = """\
user  nginx;
worker_processes  auto;

error_log  /var/log/nginx/error.log notice;
pid        /var/run/nginx.pid;


events {
    worker_connections  1024;
}


http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;

    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';

    access_log  /var/log/nginx/access.log  main;

    sendfile        on;
    #tcp_nopush     on;

    keepalive_timeout  65;

    #gzip  on;

    include /etc/nginx/conf.d/*.conf;
}
"""

# IPv4 only: the official image adds "listen [::]:80" from its entrypoint only where the
# container has IPv6, and this image has no entrypoint script.
NGINX_DEFAULT_CONF = """\
server {
    listen       80;
    server_name  localhost;

    #access_log  /var/log/nginx/host.access.log  main;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }

    # redirect server error pages to the static page /50x.html
    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
"""

NGINX_INDEX = """\
<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>This image was assembled locally from Debian's nginx for the ecs-operator
development cluster.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""

NGINX_50X = """\
<!DOCTYPE html>
<html>
<head>
<title>Error</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>An error occurred.</h1>
<p>Sorry, the page you are looking for is currently unavailable.<br/>
Please try again later.</p>
<p><em>Faithfully yours, nginx.</em></p>
</body>
</html>
"""

NGINX_UID = 101


def nginx_compiled_paths(nginx: str = NGINX) -> dict[str, str]:
    """The ``--*-path`` and ``--prefix`` options the binary was configured with (``nginx -V``):
    nginx opens some of them before it reads nginx.conf, so they must exist in the image."""
    proc = subprocess.run([nginx, "-V"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ImageError(f"{nginx} -V failed: {proc.stderr.strip()}")
    pattern = re.compile(r"(?:^|\s)--([a-z-]+-path|prefix)=([^\s']+)")
    return dict(pattern.findall(proc.stderr + proc.stdout))


def nginx_tree(base: Tree) -> Tree:
    """Debian's nginx in the official image's layout (/etc/nginx, conf.d/default.conf,
    /usr/share/nginx/html), logging to the container's stdout and stderr."""
    tree = Tree(base)
    tree.copy_elf(NGINX)
    for name in ("mime.types", "fastcgi_params", "scgi_params", "uwsgi_params"):
        tree.copy_host(f"{NGINX_CONF_DIR}/{name}")
    tree.put("etc/nginx/nginx.conf", regular(NGINX_CONF))
    tree.put("etc/nginx/conf.d/default.conf", regular(NGINX_DEFAULT_CONF))
    tree.put("usr/share/nginx/html/index.html", regular(NGINX_INDEX))
    tree.put("usr/share/nginx/html/50x.html", regular(NGINX_50X))
    tree.put("var/cache/nginx", directory())
    tree.put("var/log/nginx/access.log", symlink("/dev/stdout"))
    tree.put("var/log/nginx/error.log", symlink("/dev/stderr"))
    for option, value in sorted(nginx_compiled_paths().items()):
        if not value.startswith("/"):
            continue  # e.g. --error-log-path=stderr
        if option.endswith("-temp-path"):
            # Written by the workers, which run as user nginx.
            tree.put(value, directory(0o700, uid=NGINX_UID))
        elif option in ("pid-path", "lock-path"):
            # Written by the master, as root: the directory only has to exist.
            if not tree.exists(posixpath.dirname(value)):
                tree.put(posixpath.dirname(value), directory())
        elif option in ("http-log-path", "error-log-path") and not tree.exists(value):
            tree.put(value, symlink("/dev/stdout" if "access" in option else "/dev/stderr"))
        elif option == "prefix" and not tree.exists(value):
            tree.put(value, directory())
    return tree


def nginx_runtime() -> dict[str, Any]:
    return {
        "Env": [f"PATH={DEFAULT_PATH}"],
        "Cmd": ["nginx", "-g", "daemon off;"],
        "ExposedPorts": {"80/tcp": {}},
        "StopSignal": "SIGQUIT",
    }


# --------------------------------------------------------------------------------------------
# httpd


def httpd_conf(modules: Iterable[str] = HTTPD_MODULES) -> str:
    loads = "\n".join(f"LoadModule {m}_module modules/mod_{m}.so" for m in modules)
    return f"""\
# Apache httpd configuration in the official httpd image's layout, for Debian's apache2
# binary (started through {HTTPD_PREFIX}/bin/httpd, which sets ServerRoot and this file).
ServerRoot "{HTTPD_PREFIX}"

Listen 80

{loads}

<IfModule unixd_module>
User daemon
Group daemon
</IfModule>

ServerAdmin you@example.com
#ServerName www.example.com:80

PidFile logs/httpd.pid

<Directory />
    AllowOverride none
    Require all denied
</Directory>

DocumentRoot "{HTTPD_PREFIX}/htdocs"
<Directory "{HTTPD_PREFIX}/htdocs">
    Options Indexes FollowSymLinks
    AllowOverride None
    Require all granted
</Directory>

<IfModule dir_module>
    DirectoryIndex index.html
</IfModule>

<Files ".ht*">
    Require all denied
</Files>

ErrorLog /proc/self/fd/2
LogLevel warn

<IfModule log_config_module>
    LogFormat "%h %l %u %t \\"%r\\" %>s %b \\"%{{Referer}}i\\" \\"%{{User-Agent}}i\\"" combined
    LogFormat "%h %l %u %t \\"%r\\" %>s %b" common
    CustomLog /proc/self/fd/1 common
</IfModule>

<IfModule alias_module>
    ScriptAlias /cgi-bin/ "{HTTPD_PREFIX}/cgi-bin/"
</IfModule>

<IfModule headers_module>
    RequestHeader unset Proxy early
</IfModule>

<IfModule mime_module>
    TypesConfig conf/mime.types
    AddType application/x-compress .Z
    AddType application/x-gzip .gz .tgz
</IfModule>
"""


HTTPD_INDEX = "<html><body><h1>It works!</h1></body></html>\n"

# Debian's apache2 has /etc/apache2 and apache2.conf compiled in; this wrapper gives plain
# `httpd` the official image's ServerRoot and config file (later -d/-f arguments still win).
HTTPD_WRAPPER = f"""\
#!/bin/sh
exec /usr/sbin/apache2 -d {HTTPD_PREFIX} -f conf/httpd.conf "$@"
"""

HTTPD_FOREGROUND = f"""\
#!/bin/sh
set -e

# Apache gets grumpy about PID files pre-existing
rm -f {HTTPD_PREFIX}/logs/httpd.pid

exec httpd -DFOREGROUND "$@"
"""


def httpd_tree(base: Tree) -> Tree:
    """Debian's apache2 with the official image's paths under /usr/local/apache2."""
    tree = Tree(base)
    tree.copy_elf(APACHE)
    for module in HTTPD_MODULES:
        tree.copy_elf(f"{APACHE_MODULES}/mod_{module}.so")
    prefix = HTTPD_PREFIX.lstrip("/")
    tree.put(f"{prefix}/modules", symlink(APACHE_MODULES))
    tree.put(f"{prefix}/bin/httpd", regular(HTTPD_WRAPPER, 0o755))
    tree.put(f"{prefix}/bin/httpd-foreground", regular(HTTPD_FOREGROUND, 0o755))
    tree.put(f"{prefix}/conf/httpd.conf", regular(httpd_conf()))
    tree.put(f"{prefix}/conf/mime.types", regular(Path(MIME_TYPES).read_bytes()))
    tree.put(f"{prefix}/htdocs/index.html", regular(HTTPD_INDEX))
    tree.put(f"{prefix}/cgi-bin", directory())
    tree.put(f"{prefix}/logs", directory())
    # Debian's busybox is built as a "standalone shell": its ash runs its own applet
    # for any applet name before searching PATH, so `exec httpd` in httpd-foreground would
    # start busybox's httpd. The official image's /bin/sh is Debian's dash, which searches
    # PATH; GNU bash (already in the common layer) behaves the same way here.
    tree.put("bin/sh", symlink("bash"), replace=True)
    return tree


def httpd_runtime() -> dict[str, Any]:
    return {
        "Env": [f"PATH={HTTPD_PREFIX}/bin:{DEFAULT_PATH}", f"HTTPD_PREFIX={HTTPD_PREFIX}"],
        "Cmd": ["httpd-foreground"],
        "WorkingDir": HTTPD_PREFIX,
        "ExposedPorts": {"80/tcp": {}},
        "StopSignal": "SIGWINCH",
    }


# --------------------------------------------------------------------------------------------
# pause


def pause_tree(pause_binary: Path) -> Tree:
    tree = Tree()
    tree.put("pause", regular(pause_binary.read_bytes(), 0o755))
    return tree


def pause_runtime() -> dict[str, Any]:
    return {
        "Env": [f"PATH={DEFAULT_PATH}"],
        "Entrypoint": ["/pause"],
        "WorkingDir": "/",
        "User": "65535:65535",
    }


def repo_root() -> Path:
    """The source checkout (operator/ecs_operator/dev/ -> repo), where hack/pause lives."""
    return Path(__file__).resolve().parents[3]


def _pause_sources(src: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(src.glob("*")):
        if path.suffix in (".go", ".mod", ".sum"):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_pause(dest_dir: Path) -> Path:
    """Build hack/pause into ``dest_dir/pause`` unless the binary there was already built from
    the current sources (a stamp file holds their digest); returns the binary's path.
    Static (CGO off), trimmed paths and no symbols, so rebuilding gives the same bytes."""
    src = repo_root() / "hack" / "pause"
    if not (src / "main.go").is_file():
        raise ImageError(f"pause sources not found at {src} (run from a source checkout)")
    dest = dest_dir / "pause"
    stamp = dest_dir / "pause.sources-sha256"
    sources = _pause_sources(src)
    if dest.is_file() and stamp.is_file() and stamp.read_text().strip() == sources:
        return dest
    go = shutil.which("go") or "/usr/local/go/bin/go"
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = dest_dir / f"pause.{os.getpid()}.tmp"
    proc = subprocess.run(
        [go, "build", "-trimpath", "-ldflags", "-s -w", "-o", str(tmp), "."],
        cwd=src,
        env={**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local"},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise ImageError(f"building hack/pause failed:\n{proc.stderr}")
    os.replace(tmp, dest)
    stamp.write_text(sources + "\n")
    return dest


# --------------------------------------------------------------------------------------------
# All images


def kube_scheduler_tree(binary: Path) -> Tree:
    tree = Tree()
    tree.put("usr/local/bin/kube-scheduler", regular(binary.read_bytes(), 0o755))
    return tree


def build_images(
    pause_binary: Path, cache_dir: Path | None = None, kube_scheduler: Path | None = None
) -> dict[str, Image]:
    """Every local image by name (``busybox``, ``nginx``, ``httpd``, ``pause``; with
    ``kube_scheduler``, a static kube-scheduler binary, also ``kube-scheduler``)."""
    common = common_tree()
    base = make_layer(common, "userland: busybox applets, GNU bash, /etc", cache_dir)
    nginx = make_layer(nginx_tree(common), "Debian nginx-light in the nginx image layout", cache_dir)
    httpd = make_layer(httpd_tree(common), "Debian apache2-bin in the httpd image layout", cache_dir)
    pause = make_layer(pause_tree(pause_binary), "hack/pause", cache_dir)
    return {
        "busybox": assemble("busybox", [base], {"Env": [f"PATH={DEFAULT_PATH}"], "Cmd": ["sh"]}),
        "nginx": assemble("nginx", [base, nginx], nginx_runtime()),
        "httpd": assemble("httpd", [base, httpd], httpd_runtime()),
        "pause": assemble("pause", [pause], pause_runtime()),
        **(
            {
                "kube-scheduler": assemble(
                    "kube-scheduler",
                    [make_layer(kube_scheduler_tree(kube_scheduler), "kube-scheduler", cache_dir)],
                    {
                        "Env": [f"PATH={DEFAULT_PATH}"],
                        "Entrypoint": ["/usr/local/bin/kube-scheduler"],
                        "User": "65532:65532",
                    },
                )
            }
            if kube_scheduler is not None
            else {}
        ),
    }


# --------------------------------------------------------------------------------------------
# Registry API v2


def _base_url(registry: str) -> str:
    """``host:port`` or a URL -> ``http://host:port`` (the local registry speaks plain HTTP)."""
    registry = registry.rstrip("/")
    return registry if "://" in registry else f"http://{registry}"


@functools.cache
def _opener() -> urllib.request.OpenerDirector:
    """No proxies: the registry is local, and an http_proxy in the environment must not
    catch it."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


def _request(
    method: str,
    url: str,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Response:
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    try:
        with _opener().open(request, timeout=timeout) as resp:
            return Response(resp.status, dict(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as err:
        return Response(err.code, dict(err.headers.items()), err.read())


def _expect(resp: Response, status: int, what: str) -> None:
    if resp.status != status:
        raise ImageError(f"{what}: HTTP {resp.status}: {resp.body[:300]!r}")


def push_blob(base: str, repo: str, digest: str, data: bytes, mounts: dict[str, str]) -> str:
    """Make ``digest`` present in ``repo``: nothing if it is there, a cross-repository mount
    if another repository of this push has it, else a monolithic upload. ``mounts`` maps a
    digest to a repository known to hold it. Returns what was done."""
    blob_url = f"{base}/v2/{repo}/blobs/{digest}"
    if _request("HEAD", blob_url).status == 200:
        mounts.setdefault(digest, repo)
        return "present"
    uploads = f"{base}/v2/{repo}/blobs/uploads/"
    source = mounts.get(digest)
    if source and source != repo:
        query = urllib.parse.urlencode({"mount": digest, "from": source})
        resp = _request("POST", f"{uploads}?{query}", data=b"")
        if resp.status == 201:
            mounts[digest] = repo
            return "mounted"
    else:
        resp = _request("POST", uploads, data=b"")
    _expect(resp, 202, f"starting upload of {digest} to {repo}")
    location = urllib.parse.urljoin(base + "/", resp.headers.get("Location", ""))
    sep = "&" if "?" in location else "?"
    put = _request(
        "PUT",
        f"{location}{sep}digest={urllib.parse.quote(digest)}",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    _expect(put, 201, f"uploading {digest} to {repo}")
    mounts[digest] = repo
    return "uploaded"


def push_manifest(base: str, repo: str, tag: str, image: Image) -> bool:
    """Tag ``image`` in ``repo`` unless the tag already points at it; True if it was put."""
    url = f"{base}/v2/{repo}/manifests/{tag}"
    head = _request("HEAD", url, headers={"Accept": MEDIA_MANIFEST})
    if head.status == 200 and head.headers.get("Docker-Content-Digest") == image.digest:
        return False
    resp = _request("PUT", url, data=image.manifest, headers={"Content-Type": MEDIA_MANIFEST})
    _expect(resp, 201, f"putting manifest {repo}:{tag}")
    returned = resp.headers.get("Docker-Content-Digest")
    if returned and returned != image.digest:
        raise ImageError(f"{repo}:{tag}: registry stored {returned}, expected {image.digest}")
    return True


def push(
    registry: str,
    image: Image,
    repository: str,
    tags: Iterable[str],
    mounts: dict[str, str] | None = None,
) -> str:
    """Push ``image`` to ``repository`` under ``tags``; returns the manifest digest. Pass the
    same ``mounts`` across calls so later repositories mount blobs instead of uploading."""
    base = _base_url(registry)
    mounts = {} if mounts is None else mounts
    for digest, data in image.blobs():
        push_blob(base, repository, digest, data, mounts)
    for tag in tags:
        push_manifest(base, repository, tag, image)
    return image.digest


def push_all(
    registry: str,
    pause_binary: Path,
    log: Callable[[str], object] = print,
    cache_dir: Path | None = None,
    kube_scheduler: Path | None = None,
) -> dict[str, str]:
    """Build every image and push it to every repository of :data:`REPOSITORIES` (and
    :data:`KUBE_SCHEDULER` with ``kube_scheduler``); returns
    ``{"library/nginx:latest": "sha256:...", ...}`` (registry-local references)."""
    started = time.monotonic()
    images = build_images(pause_binary, cache_dir, kube_scheduler)
    log(f"built {len(images)} images in {time.monotonic() - started:.2f}s")
    mounts: dict[str, str] = {}
    pushed: dict[str, str] = {}
    for repo in REPOSITORIES + ((KUBE_SCHEDULER,) if kube_scheduler is not None else ()):
        image = images[repo.image]
        digest = push(registry, image, repo.path, repo.tags, mounts)
        for tag in repo.tags:
            pushed[f"{repo.path}:{tag}"] = digest
        log(f"{repo.path}:{','.join(repo.tags)} -> {digest} ({image.size / 1e6:.1f} MB)")
    log(f"pushed to {registry} in {time.monotonic() - started:.2f}s")
    return pushed


# --------------------------------------------------------------------------------------------
# Running a registry (tests, dev cluster)


def registry_config(addr: str, storage: Path) -> str:
    """YAML for ``/usr/bin/docker-registry serve`` (distribution 2.8): filesystem storage, plain
    HTTP on ``addr``, no auth, no deletes. The storage-driver health check is off because it
    probes the storage root every few seconds for nothing on a local disk."""
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": False},
            "cache": {"blobdescriptor": "inmemory"},
        },
        "http": {"addr": addr},
        "health": {"storagedriver": {"enabled": False}},
    }
    return yaml.safe_dump(config, sort_keys=False)


def wait_registry(url: str, timeout: float = 10.0) -> None:
    """Wait until the registry at ``url`` answers ``GET /v2/`` (it takes a moment to bind)."""
    base = _base_url(url)
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            resp = _request("GET", f"{base}/v2/", timeout=2.0)
            if resp.status == 200:
                return
            last = f"HTTP {resp.status}"
        except OSError as err:
            last = str(err)
        time.sleep(0.05)
    raise TimeoutError(f"registry at {base} not ready after {timeout}s: {last}")
