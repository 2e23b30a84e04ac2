from ecs_operator.domain.policy import violations
from ecs_operator.models.generated import RegisterTaskDefinitionRequest
from ecs_operator.translate.taskdef import translate_task_definition


def _template(**td):
    spec = {"family": "p", "containerDefinitions": [{"name": "My_App", "image": "x", "memory": 64}], **td}
    return translate_task_definition(
        RegisterTaskDefinitionRequest.model_validate(spec), family="p", revision=1
    ).template


def test_everything_is_denied_by_default_naming_the_ecs_field():
    t = _template(
        networkMode="host",
        pidMode="host",
        ipcMode="host",
        volumes=[{"name": "logs", "host": {"sourcePath": "/var/log"}}],
        containerDefinitions=[
            {
                "name": "My_App",
                "image": "x",
                "memory": 64,
                "privileged": True,
                "mountPoints": [{"sourceVolume": "logs", "containerPath": "/l"}],
            }
        ],
    )
    msgs = violations(t, None, cluster="default")
    assert [m.split(":")[0] for m in msgs] == [
        "containerDefinitions[My_App].privileged",
        "networkMode",
        "pidMode",
        "ipcMode",
        "volumes[logs].host",
    ]
    assert "securityPolicy.allowPrivileged" in msgs[0]
    allowed = {
        "allowPrivileged": True,
        "allowHostNetwork": True,
        "allowHostPID": True,
        "allowHostIPC": True,
        "allowHostVolumes": True,
    }
    assert violations(t, allowed, cluster="default") == []
    assert len(violations(t, allowed, cluster="default", fargate=True)) == 5, "Fargate denies whatever the policy says"


def test_a_plain_task_definition_passes():
    assert violations(_template(), None, cluster="default") == []
