"""The digests a service deployment runs (versionConsistency): resolved once per deployment.

The deployment's recorded ``containerImages`` (ECS's ``[{containerName, imageDigest, image}]``)
are reused for every container whose image is unchanged, so a deployment never changes digest
part-way (a tag pushed again later does not reach its remaining tasks); only a container without
a record is asked of its registry (``k8s/registry.py``). A tag the registry does not resolve is
recorded without a digest and stays so for the deployment: its tasks run the tag, and the
caller reports it (``translate.images.unresolved_warnings``), never failing the deployment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .. import config
from ..k8s import registry
from ..models.generated import RegisterTaskDefinitionRequest
from ..translate.images import ContainerImage, from_ecs, to_resolve


def resolve_images(
    td: RegisterTaskDefinitionRequest,
    recorded: Iterable[Mapping[str, Any]] | None = None,
    *,
    client: registry.RegistryClient | None = None,
) -> list[ContainerImage]:
    """The images of the deployment of ``td``, in container order: ``recorded`` (this
    deployment's ``containerImages``, None for a new deployment) where the image is the same,
    else the registry's answer now. Containers with ``versionConsistency: disabled`` or an image
    pinned by digest are not listed (they run as named)."""
    known = {ci.container_name: ci for ci in from_ecs(recorded or [])}
    out: list[ContainerImage] = []
    for name, image in to_resolve(td).items():
        ci = known.get(name)
        if ci is None or ci.image != image:
            if client is None:
                client = registry.client(insecure_registries())
            answer = client.resolve(image)
            ci = ContainerImage(name, image, answer.digest, answer.reason)
        out.append(ci)
    return out


def insecure_registries() -> tuple[str, ...]:
    """Registries spoken to over plain HTTP (config ``insecure_registries`` once it is wired;
    none before)."""
    return tuple(getattr(config.get(), "insecure_registries", ()) or ())
