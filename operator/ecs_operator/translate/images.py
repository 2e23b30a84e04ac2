"""versionConsistency: container image references, which containers a deployment pins to a
digest, and the pod template that runs the pinned images (pure).

ECS resolves each container's image tag to a digest once per service deployment (unless the
container sets ``versionConsistency: disabled``), records it in the service revision's
``containerImages`` (``[{containerName, imageDigest, image}]``) and starts every task of the
deployment from that digest. Here: :func:`to_resolve` says which containers need a digest,
:func:`pin_template` writes ``image@digest`` into a pod template, and :func:`unresolved_warnings`
reports a container whose tag could not be resolved (its tasks run the tag as it is; the
deployment is never failed for it). The registry lookups are ``k8s/registry.py``; reusing a
deployment's digests is ``state/images.py``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..models.generated import RegisterTaskDefinitionRequest
from .diagnostics import TranslationWarning

DOCKER_HUB = "docker.io"
#: Docker Hub's registry API host (``docker.io`` itself only redirects)
DOCKER_HUB_API = "registry-1.docker.io"
DEFAULT_TAG = "latest"
#: why a recorded entry has no digest: the registry did not answer when the deployment started
UNRESOLVED_AT_START = "the registry did not resolve it when this deployment started"

_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_PATH_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference, normalised as Docker does (``busybox`` ->
    ``docker.io/library/busybox:latest``)."""

    registry: str  # as named: docker.io, public.ecr.aws, 10.0.0.1:5000, localhost:5000
    repository: str  # library/busybox
    tag: str  # latest when the reference names none
    digest: str | None  # sha256:... when the reference already pins one

    @property
    def api_host(self) -> str:
        """Where the registry's HTTP API answers."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry


def parse_reference(image: str) -> ImageRef | None:
    """The reference's parts; None for something that is not an image reference."""
    rest, _, digest = image.strip().partition("@")
    if digest and not _DIGEST_RE.match(digest):
        return None
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = DOCKER_HUB, rest
    name, tag = path, DEFAULT_TAG
    last_slash = path.rfind("/")
    colon = path.rfind(":")
    if colon > last_slash:
        name, tag = path[:colon], path[colon + 1 :]
        if not _TAG_RE.match(tag):
            return None
    if registry == DOCKER_HUB and "/" not in name:
        name = f"library/{name}"
    if not name or not _PATH_RE.match(name) or not registry:
        return None
    return ImageRef(registry=registry, repository=name, tag=tag, digest=digest or None)


def pinned(image: str, digest: str) -> str:
    """``image@digest``: the reference as the task definition names it (its tag kept for the
    reader; a runtime pulls by the digest), with the digest it resolved to."""
    return f"{image.partition('@')[0]}@{digest}"


def to_resolve(td: RegisterTaskDefinitionRequest) -> dict[str, str]:
    """ECS container name -> image, for each container whose tag is resolved to a digest:
    ``versionConsistency`` not ``disabled`` (ECS's default is ``enabled``) and the image not
    pinned by digest already (it runs as named)."""
    out: dict[str, str] = {}
    for cd in td.containerDefinitions:
        if not cd.name or not cd.image or cd.versionConsistency == "disabled":
            continue
        ref = parse_reference(cd.image)
        if ref is not None and ref.digest is None:
            out[cd.name] = cd.image
    return out


@dataclass(frozen=True)
class ContainerImage:
    """One entry of a service revision's ``containerImages``; ``image_digest`` None: the tag
    could not be resolved (``reason`` says why) and the tasks run the tag."""

    container_name: str
    image: str
    image_digest: str | None = None
    reason: str | None = None

    def as_ecs(self) -> dict[str, str]:
        """ECS's ContainerImage shape (containerName, imageDigest, image)."""
        out = {"containerName": self.container_name, "image": self.image}
        if self.image_digest:
            out["imageDigest"] = self.image_digest
        return out


def from_ecs(entries: Iterable[Mapping[str, Any]]) -> list[ContainerImage]:
    """Recorded ``containerImages`` back into ContainerImages (entries without a name or an
    image are dropped)."""
    out = []
    for e in entries:
        name, image, digest = e.get("containerName"), e.get("image"), e.get("imageDigest")
        if isinstance(name, str) and isinstance(image, str) and name and image:
            ok = isinstance(digest, str) and _DIGEST_RE.match(digest) is not None
            out.append(ContainerImage(name, image, digest if ok else None, None if ok else UNRESOLVED_AT_START))
    return out


def pin_template(
    template: dict[str, Any], container_names: Mapping[str, str], images: Iterable[ContainerImage]
) -> dict[str, Any]:
    """A copy of ``template`` whose containers (main and init) run ``image@digest`` for each
    resolved image. ``container_names``: ECS name -> Kubernetes container name (the
    translation's). A container whose image changed since the digest was taken keeps its image."""
    out = copy.deepcopy(template)
    by_k8s = {
        container_names[ci.container_name]: ci
        for ci in images
        if ci.image_digest and ci.container_name in container_names
    }
    spec = out.get("spec") or {}
    for c in list(spec.get("containers") or []) + list(spec.get("initContainers") or []):
        ci = by_k8s.get(c.get("name", ""))
        if ci is not None and ci.image_digest and c.get("image") == ci.image:
            c["image"] = pinned(ci.image, ci.image_digest)
    return out


def unresolved_warnings(images: Iterable[ContainerImage]) -> list[TranslationWarning]:
    """One warning per container whose tag was not resolved, naming the container."""
    return [
        TranslationWarning(
            f"containerDefinitions[{ci.container_name}].versionConsistency",
            f"the tag of {ci.image!r} was not resolved to a digest ({ci.reason or 'unknown reason'}): "
            "this deployment's tasks run the tag as it is",
        )
        for ci in images
        if ci.image_digest is None
    ]
