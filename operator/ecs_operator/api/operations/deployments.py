"""StopServiceDeployment and ContinueServiceDeployment on the ServiceDeployment records.

A service deployment ARN (``service-deployment/<cluster>/<service>/<number>``) names the
ServiceDeployment ``<ECSService object>-<number>``; a stop or a continue is written into its
spec (``spec.stop.stopType``, ``spec.continue[]``), as ``kubectl patch`` would, and the operator's
deployment state machine acts on it.
"""

from __future__ import annotations

from typing import Any

from ... import API_VERSION
from ...domain import deployments as dep
from ...k8s import records  # noqa: F401 - registers the records' kinds with the client
from ...plans.deployment import KIND_DEPLOYMENT, record_name
from .. import arns
from ..context import RequestContext
from ..errors import EcsApiError, client_error, invalid_parameter
from . import operation, services


def _not_found() -> EcsApiError:
    return EcsApiError("ServiceDeploymentNotFoundException", "The service deployment does not exist.")


def _record(ctx: RequestContext, arn: Any) -> dict[str, Any]:
    """The ServiceDeployment the ARN names."""
    if not isinstance(arn, str) or not arn:
        raise invalid_parameter("serviceDeploymentArn is required.")
    parsed = arns.parse(arn)
    if parsed is None or parsed.kind != "service-deployment" or len(parsed.path) != 3:
        raise invalid_parameter(f"Invalid service deployment ARN: {arn}")
    cluster, service, number = parsed.path
    obj = services.find(ctx, cluster, service)
    if obj is None:
        raise _not_found()
    record = ctx.kube.get(API_VERSION, KIND_DEPLOYMENT, ctx.namespace, record_name(obj["metadata"]["name"], number))
    if record is None:
        raise _not_found()
    return record


@operation("StopServiceDeployment")
def stop_service_deployment(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    arn = params.get("serviceDeploymentArn")
    stop_type = params.get("stopType") or "ROLLBACK"
    if stop_type not in ("ABORT", "ROLLBACK"):
        raise invalid_parameter("stopType must be ABORT or ROLLBACK.")
    record = _record(ctx, arn)
    status = (record.get("status") or {}).get("status")
    if status in dep.FINAL:
        raise EcsApiError("ConflictException", f"The service deployment is {status} and cannot be stopped.")
    if (record.get("status") or {}).get("strategy") == "ROLLING":
        raise EcsApiError(
            "UnsupportedFeatureException",
            "Stopping a ROLLING deployment is not supported here; update the service to roll back.",
        )
    ctx.kube.merge_patch(
        API_VERSION,
        KIND_DEPLOYMENT,
        ctx.namespace,
        record["metadata"]["name"],
        {"spec": {"stop": {"stopType": stop_type}}},
    )
    return {"serviceDeploymentArn": arn}


@operation("ContinueServiceDeployment")
def continue_service_deployment(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    arn = params.get("serviceDeploymentArn")
    hook_id = params.get("hookId")
    action = params.get("action") or "CONTINUE"
    if action not in ("CONTINUE", "ROLLBACK"):
        raise invalid_parameter("action must be CONTINUE or ROLLBACK.")
    if not hook_id:
        raise invalid_parameter("hookId is required.")
    record = _record(ctx, arn)
    hooks = (record.get("status") or {}).get("lifecycleHookDetails") or []
    hook = next((h for h in hooks if h.get("hookId") == hook_id), None)
    if hook is None or hook.get("status") != "AWAITING_ACTION":
        raise client_error(f"The lifecycle hook {hook_id} is not awaiting action.")
    requested = [c for c in (record.get("spec") or {}).get("continue") or [] if c.get("hookId") != hook_id]
    ctx.kube.merge_patch(
        API_VERSION,
        KIND_DEPLOYMENT,
        ctx.namespace,
        record["metadata"]["name"],
        {"spec": {"continue": [*requested, {"hookId": hook_id, "action": action}][-32:]}},
    )
    return {"serviceDeploymentArn": arn}
