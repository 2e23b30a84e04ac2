"""Property test: any schema-valid task definition translates to a structurally valid
PodTemplateSpec, or raises TranslationError (never anything else)."""

from __future__ import annotations

from ecs_operator.models.generated import RegisterTaskDefinitionRequest
from ecs_operator.translate.taskdef import TranslationError, translate_task_definition
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .test_translate_taskdef import check_translation

ECS_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=80)
SHORT_NAME = st.text(alphabet="abcdefgAB_-019", min_size=1, max_size=12)
ENV_NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
TEXT = st.text(max_size=20)
PATHS = st.sampled_from(["/data", "/data/", "/var/log", "/tmp", "/srv/app", "/dev/shm", "/etc/conf", "/cache"])

SECRET_REFS = st.one_of(
    st.builds(
        lambda n, s, k: f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{n}{s}{k}",
        st.from_regex(r"[A-Za-z0-9/_+=.@-]{1,30}", fullmatch=True),
        st.sampled_from(["", "-AbC123"]),
        st.sampled_from(["", ":key::", ":k:AWSCURRENT:", "::v1:v2"]),
    ),
    st.builds(
        lambda p: f"arn:aws:ssm:eu-west-1:123456789012:parameter/{p}",
        st.from_regex(r"[A-Za-z0-9/_.-]{1,40}", fullmatch=True),
    ),
    st.from_regex(r"/?[A-Za-z0-9_./-]{1,40}", fullmatch=True),
)

HEALTH = st.fixed_dictionaries(
    {
        "command": st.one_of(
            st.just(["NONE"]),
            st.lists(st.sampled_from(["curl", "-f", "localhost", "$(x)"]), min_size=1, max_size=3).map(
                lambda a: ["CMD", *a]
            ),
            st.sampled_from(["true", "curl -f http://localhost/ || exit 1"]).map(lambda s: ["CMD-SHELL", s]),
        )
    },
    optional={
        "interval": st.integers(5, 300),
        "timeout": st.integers(2, 60),
        "retries": st.integers(1, 10),
        "startPeriod": st.integers(0, 300),
    },
)

_PORT_OPTIONAL = {
    "protocol": st.sampled_from(["tcp", "udp"]),
    "name": st.from_regex(r"[a-z0-9_][a-z0-9_-]{0,20}", fullmatch=True),
    "appProtocol": st.sampled_from(["http", "http2", "grpc"]),
}
PORT = st.one_of(
    st.fixed_dictionaries(
        {"containerPort": st.integers(1, 65535)}, optional={"hostPort": st.integers(0, 65535), **_PORT_OPTIONAL}
    ),
    st.fixed_dictionaries(
        {"containerPortRange": st.builds(lambda a, n: f"{a}-{a + n}", st.integers(1, 60000), st.integers(0, 150))},
        optional=_PORT_OPTIONAL,
    ),
)

LINUX = st.fixed_dictionaries(
    {},
    optional={
        "capabilities": st.fixed_dictionaries(
            {},
            optional={
                "add": st.lists(st.sampled_from(["NET_ADMIN", "CAP_SYS_TIME", "sys_ptrace", "ALL"]), max_size=3),
                "drop": st.lists(st.sampled_from(["ALL", "MKNOD", "CAP_CHOWN"]), max_size=3),
            },
        ),
        "initProcessEnabled": st.booleans(),
        "sharedMemorySize": st.integers(1, 4096),
        "tmpfs": st.lists(
            st.fixed_dictionaries(
                {"containerPath": PATHS, "size": st.integers(1, 1024)},
                optional={"mountOptions": st.lists(st.just("noexec"), max_size=1)},
            ),
            max_size=2,
        ),
        "maxSwap": st.integers(0, 1024),
        "swappiness": st.integers(0, 100),
        "devices": st.lists(st.just({"hostPath": "/dev/fuse"}), max_size=1),
    },
)

VOLUME = st.fixed_dictionaries(
    {},
    optional={
        "host": st.one_of(
            st.just({}), st.fixed_dictionaries({"sourcePath": st.sampled_from(["/var/data", "/etc", "/x/y"])})
        ),
        "dockerVolumeConfiguration": st.fixed_dictionaries(
            {},
            optional={
                "scope": st.sampled_from(["task", "shared"]),
                "driver": st.sampled_from(["local", "rexray"]),
                "autoprovision": st.booleans(),
            },
        ),
        "efsVolumeConfiguration": st.fixed_dictionaries(
            {"fileSystemId": st.from_regex(r"fs-[0-9a-f]{8}", fullmatch=True)},
            optional={
                "rootDirectory": st.sampled_from(["/", "/a", "/a/B_c"]),
                "transitEncryption": st.sampled_from(["ENABLED", "DISABLED"]),
            },
        ),
        "configuredAtLaunch": st.booleans(),
    },
)


@st.composite
def task_definitions(draw) -> dict:
    names = draw(st.lists(ECS_NAME, min_size=1, max_size=4, unique=True))
    volume_names = draw(st.lists(SHORT_NAME, max_size=3, unique=True))
    volumes = [{"name": n, **draw(VOLUME)} for n in volume_names]
    containers = []
    for name in names:
        cd: dict = {
            "name": name,
            "image": draw(st.sampled_from(["busybox", "nginx:1.27", "public.ecr.aws/x/y@sha256:ab"])),
        }
        others = [n for n in names if n != name]
        memory = draw(st.none() | st.integers(4, 4096))
        if memory is not None:
            cd["memory"] = memory
        optional = {
            "cpu": st.integers(0, 1024),
            "memoryReservation": st.integers(4, memory or 4096),
            "essential": st.booleans(),
            "entryPoint": st.lists(TEXT, max_size=3),
            "command": st.lists(TEXT, max_size=3),
            "environment": st.lists(st.fixed_dictionaries({"name": ENV_NAME, "value": TEXT}), max_size=4),
            "secrets": st.lists(st.fixed_dictionaries({"name": ENV_NAME, "valueFrom": SECRET_REFS}), max_size=3),
            "portMappings": st.lists(PORT, max_size=4),
            "healthCheck": HEALTH,
            "dependsOn": st.lists(
                st.fixed_dictionaries(
                    {
                        "containerName": st.sampled_from(others or names),
                        "condition": st.sampled_from(["START", "COMPLETE", "SUCCESS", "HEALTHY"]),
                    }
                ),
                max_size=2,
            ),
            "linuxParameters": LINUX,
            "user": st.sampled_from(["1000", "1000:1000", "nginx", "0:staff"]),
            "stopTimeout": st.integers(0, 120),
            "links": st.lists(st.sampled_from(names), max_size=2),
            "extraHosts": st.lists(
                st.fixed_dictionaries(
                    {
                        "hostname": st.sampled_from(["a.local", "B_c", "x"]),
                        "ipAddress": st.sampled_from(["10.0.0.1", "fd00::1"]),
                    }
                ),
                max_size=2,
            ),
        }
        if volume_names:
            optional["mountPoints"] = st.lists(
                st.fixed_dictionaries(
                    {"sourceVolume": st.sampled_from(volume_names), "containerPath": PATHS},
                    optional={"readOnly": st.booleans()},
                ),
                max_size=3,
            )
        if len(names) > 1:
            optional["volumesFrom"] = st.lists(
                st.fixed_dictionaries(
                    {"sourceContainer": st.sampled_from(others)}, optional={"readOnly": st.booleans()}
                ),
                max_size=1,
            )
        cd.update(draw(st.fixed_dictionaries({}, optional=optional)))
        containers.append(cd)
    task = {"family": draw(ECS_NAME), "containerDefinitions": containers}
    task.update(
        draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "networkMode": st.sampled_from(["bridge", "host", "awsvpc", "none"]),
                    "cpu": st.sampled_from(["256", "1024", "0.5 vCPU", "4 vCPU", 2048]),
                    "memory": st.sampled_from(["512", "1 GB", "8GB", 4096]),
                    "pidMode": st.sampled_from(["host", "task"]),
                    "ipcMode": st.sampled_from(["host", "task", "none"]),
                    "requiresCompatibilities": st.lists(st.sampled_from(["EC2", "FARGATE"]), max_size=2, unique=True),
                    "taskRoleArn": st.sampled_from(["arn:aws:iam::1:role/App_Role", "arn:aws:iam::1:role/a/b/c"]),
                    "runtimePlatform": st.fixed_dictionaries(
                        {},
                        optional={
                            "cpuArchitecture": st.sampled_from(["X86_64", "ARM64"]),
                            "operatingSystemFamily": st.sampled_from(["LINUX", "WINDOWS_SERVER_2022_CORE"]),
                        },
                    ),
                    "ephemeralStorage": st.builds(lambda n: {"sizeInGiB": n}, st.integers(21, 200)),
                },
            )
        )
    )
    if volumes:
        task["volumes"] = volumes
    return task


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(task_definitions())
def test_translation_is_valid_or_rejected(d: dict) -> None:
    td = RegisterTaskDefinitionRequest.model_validate(d)
    try:
        t = translate_task_definition(td, family=td.family, revision=7)
    except TranslationError as e:
        assert e.field and str(e).startswith(e.field)
        return
    check_translation(t)
    again = translate_task_definition(td, family=td.family, revision=7)
    assert again == t  # deterministic


# Arbitrary strings wherever ECS takes a string: translation still never raises anything but
# TranslationError, and whatever it produces is structurally valid.
ANY = st.text(max_size=30)


@st.composite
def wild_task_definitions(draw) -> dict:
    names = draw(st.lists(ANY.filter(bool), min_size=1, max_size=3, unique=True))
    volume_names = draw(st.lists(ANY, max_size=2))
    containers = []
    for name in names:
        cd = {"name": name, "image": draw(ANY)}
        cd.update(
            draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "user": ANY,
                        "hostname": ANY,
                        "workingDirectory": ANY,
                        "links": st.lists(st.one_of(st.sampled_from(names), ANY), max_size=2),
                        "dockerSecurityOptions": st.lists(
                            ANY | st.sampled_from(["apparmor:x", "no-new-privileges", "seccomp:unconfined"]), max_size=2
                        ),
                        "dnsServers": st.lists(ANY | st.sampled_from(["10.0.0.1", "::1"]), max_size=2),
                        "dnsSearchDomains": st.lists(ANY, max_size=2),
                        "extraHosts": st.lists(
                            st.fixed_dictionaries({"hostname": ANY, "ipAddress": ANY | st.just("10.1.1.1")}), max_size=2
                        ),
                        "systemControls": st.lists(
                            st.fixed_dictionaries(
                                {}, optional={"namespace": ANY | st.just("net.core.somaxconn"), "value": ANY}
                            ),
                            max_size=2,
                        ),
                        "environment": st.lists(
                            st.fixed_dictionaries({}, optional={"name": ANY, "value": ANY}), max_size=3
                        ),
                        "secrets": st.lists(st.fixed_dictionaries({"name": ANY, "valueFrom": ANY}), max_size=2),
                        "environmentFiles": st.lists(
                            st.fixed_dictionaries({"value": ANY, "type": st.just("s3")}), max_size=2
                        ),
                        "repositoryCredentials": st.fixed_dictionaries({"credentialsParameter": ANY}),
                        "healthCheck": st.fixed_dictionaries(
                            {"command": st.lists(ANY | st.sampled_from(["CMD", "CMD-SHELL"]), max_size=3)},
                            optional={
                                "interval": st.integers(-5, 400),
                                "timeout": st.integers(-5, 100),
                                "retries": st.integers(-1, 20),
                                "startPeriod": st.integers(-5, 400),
                            },
                        ),
                        "portMappings": st.lists(
                            st.fixed_dictionaries(
                                {},
                                optional={
                                    "containerPort": st.integers(-1, 70000),
                                    "hostPort": st.integers(-1, 70000),
                                    "name": ANY,
                                    "containerPortRange": ANY,
                                },
                            ),
                            max_size=2,
                        ),
                        "mountPoints": st.lists(
                            st.fixed_dictionaries(
                                {},
                                optional={
                                    "sourceVolume": st.sampled_from(volume_names) if volume_names else ANY,
                                    "containerPath": ANY,
                                },
                            ),
                            max_size=2,
                        ),
                        "resourceRequirements": st.lists(
                            st.fixed_dictionaries(
                                {"type": st.sampled_from(["GPU", "InferenceAccelerator", "NeuronDevice"])},
                                optional={"value": ANY},
                            ),
                            max_size=2,
                        ),
                        "linuxParameters": st.fixed_dictionaries(
                            {},
                            optional={
                                "capabilities": st.fixed_dictionaries({}, optional={"add": st.lists(ANY, max_size=2)}),
                                "tmpfs": st.lists(
                                    st.fixed_dictionaries({"containerPath": ANY, "size": st.integers(-1, 100)}),
                                    max_size=1,
                                ),
                                "sharedMemorySize": st.integers(-1, 100),
                            },
                        ),
                        "cpu": st.integers(-1, 5000),
                        "memory": st.integers(-1, 5000),
                        "memoryReservation": st.integers(-1, 5000),
                        "stopTimeout": st.integers(-1, 200),
                    },
                )
            )
        )
        containers.append(cd)
    task = {
        "containerDefinitions": containers,
        "volumes": [
            draw(
                st.fixed_dictionaries(
                    {"name": st.just(v)},
                    optional={
                        "host": st.fixed_dictionaries({}, optional={"sourcePath": ANY}),
                        "efsVolumeConfiguration": st.fixed_dictionaries(
                            {"fileSystemId": ANY}, optional={"rootDirectory": ANY}
                        ),
                        "dockerVolumeConfiguration": st.fixed_dictionaries(
                            {},
                            optional={
                                "driver": ANY,
                                "driverOpts": st.dictionaries(st.sampled_from(["type", "device", "o"]), ANY),
                            },
                        ),
                    },
                )
            )
            for v in volume_names
        ],
    }
    task.update(
        draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "cpu": ANY,
                    "memory": ANY,
                    "taskRoleArn": ANY,
                    "executionRoleArn": ANY,
                    "networkMode": st.sampled_from(["bridge", "host", "awsvpc", "none"]),
                },
            )
        )
    )
    return task


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wild_task_definitions(), ANY)
def test_arbitrary_strings_never_crash(d: dict, family: str) -> None:
    td = RegisterTaskDefinitionRequest.model_validate(d)
    try:
        t = translate_task_definition(td, family=family or "f", revision=1)
    except TranslationError as e:
        assert e.field
        return
    check_translation(t)
