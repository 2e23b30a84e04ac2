"""ECS ARNs: ``arn:aws:ecs:<region>:<account>:<resource>`` with the request's region (from its
SigV4 credential scope) and the key's account. Resources: ``cluster/<name>``,
``service/<cluster>/<name>``, ``task-definition/<family>:<revision>``, ``task/<cluster>/<id>``,
``capacity-provider/<name>``, ``container-instance/<cluster>/<id>``."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ARN = re.compile(r"^arn:(?P<partition>[^:]+):ecs:(?P<region>[^:]*):(?P<account>[^:]*):(?P<resource>.+)$")


@dataclass(frozen=True)
class Arn:
    region: str
    account: str
    resource: str  # cluster/web, service/c/web, task-definition/web:3, ...
    partition: str = "aws"

    def __str__(self) -> str:
        return f"arn:{self.partition}:ecs:{self.region}:{self.account}:{self.resource}"

    @property
    def kind(self) -> str:
        return self.resource.split("/", 1)[0]

    @property
    def path(self) -> list[str]:
        """The resource's parts after its kind (``service/c/web`` -> ``["c", "web"]``)."""
        return self.resource.split("/")[1:]


def parse(value: str) -> Arn | None:
    """The ARN ``value`` names, or None when it is not an ECS ARN."""
    m = _ARN.match(value)
    if not m:
        return None
    return Arn(m.group("region"), m.group("account"), m.group("resource"), m.group("partition"))


def build(region: str, account: str, kind: str, *parts: str) -> str:
    return str(Arn(region, account, "/".join([kind, *parts])))


def cluster(region: str, account: str, name: str) -> str:
    return build(region, account, "cluster", name)


def service(region: str, account: str, cluster_name: str, name: str) -> str:
    return build(region, account, "service", cluster_name, name)


def task_definition(region: str, account: str, family: str, revision: int) -> str:
    return build(region, account, "task-definition", f"{family}:{revision}")


def task(region: str, account: str, cluster_name: str, task_id: str) -> str:
    return build(region, account, "task", cluster_name, task_id)


def capacity_provider(region: str, account: str, name: str) -> str:
    return build(region, account, "capacity-provider", name)


def name_of(ref: str, kind: str) -> str:
    """The last part of ``ref`` when it is an ARN of ``kind`` (``cluster/web`` -> ``web``),
    else ``ref`` itself (a plain name)."""
    arn = parse(ref)
    if arn is None or arn.kind != kind or not arn.path:
        return ref
    return arn.path[-1]
