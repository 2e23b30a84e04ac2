"""translate.taskdef: ECS task definition -> PodTemplateSpec (no cluster).

Golden files live in tests/unit/golden/taskdef/; regenerate them with
``UPDATE_GOLDEN=1 pytest tests/unit/test_translate_taskdef.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from ecs_operator.models.generated import (
    ContainerDefinition,
    HealthCheck,
    LinuxParameters,
    PortMapping,
    RegisterTaskDefinitionRequest,
    Volume,
)
from ecs_operator.translate import names
from ecs_operator.translate.taskdef import (
    IGNORED_WITH_REASON,
    TRANSLATED,
    WARNED,
    TaskTranslation,
    TranslationError,
    parse_task_cpu,
    parse_task_memory,
    register_input_from_ecs_json,
    translate_task_definition,
)
from pydantic import ValidationError

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden" / "taskdef"
EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared/ecs-examples/taskdefs"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


# ------------------------------------------------------------------------------------------
# Structural check of a PodTemplateSpec (what the API server would reject); shared with the
# hypothesis test.
# ------------------------------------------------------------------------------------------

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
IANA_SVC_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9]|-(?=[a-z0-9]))*$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G)?$")
ENV_NAME = re.compile(r"^[\x20-\x3c\x3e-\x7e]+$")
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
POD_SPEC_FIELDS = {
    "enableServiceLinks",
    "automountServiceAccountToken",
    "serviceAccountName",
    "hostNetwork",
    "dnsPolicy",
    "dnsConfig",
    "hostAliases",
    "hostname",
    "hostPID",
    "hostIPC",
    "shareProcessNamespace",
    "securityContext",
    "terminationGracePeriodSeconds",
    "imagePullSecrets",
    "nodeSelector",
    "resources",
    "initContainers",
    "containers",
    "volumes",
}
CONTAINER_FIELDS = {
    "name",
    "image",
    "restartPolicy",
    "restartPolicyRules",
    "command",
    "args",
    "workingDir",
    "env",
    "envFrom",
    "ports",
    "resources",
    "volumeMounts",
    "startupProbe",
    "readinessProbe",
    "livenessProbe",
    "securityContext",
    "stdin",
    "tty",
}


def check_pod_template(template: dict) -> None:
    """Assert the structural rules of a PodTemplateSpec the translator must respect."""
    json.dumps(template)  # plain JSON data
    md = template["metadata"]
    for k, v in md["labels"].items():
        assert LABEL_VALUE.match(v) and len(v) <= 63, (k, v)
    assert all(isinstance(v, str) for v in md["annotations"].values())
    spec = template["spec"]
    assert set(spec) <= POD_SPEC_FIELDS, set(spec) - POD_SPEC_FIELDS
    assert "restartPolicy" not in spec
    assert spec["containers"], "a pod needs a container"
    volumes = spec.get("volumes", [])
    vnames = [v["name"] for v in volumes]
    assert len(vnames) == len(set(vnames)), vnames
    for v in volumes:
        assert DNS_LABEL.match(v["name"]) and len(v["name"]) <= 63, v["name"]
        assert len(v) == 2, v  # exactly one source
    all_containers = spec.get("initContainers", []) + spec["containers"]
    cnames = [c["name"] for c in all_containers]
    assert len(cnames) == len(set(cnames)), cnames
    port_names: set[str] = set()
    host_ports: set[tuple] = set()
    for c in all_containers:
        assert set(c) <= CONTAINER_FIELDS, set(c) - CONTAINER_FIELDS
        assert DNS_LABEL.match(c["name"]) and len(c["name"]) <= 63, c["name"]
        assert c["image"] and c["image"] == c["image"].strip()
        seen = set()
        for p in c.get("ports", []):
            assert 1 <= p["containerPort"] <= 65535
            assert p["protocol"] in ("TCP", "UDP")
            ident = (p["containerPort"], p["protocol"], p.get("hostPort"))
            assert ident not in seen, ident
            seen.add(ident)
            if "name" in p:
                assert IANA_SVC_NAME.match(p["name"]) and len(p["name"]) <= 15, p["name"]
                assert p["name"] not in port_names, p["name"]
                port_names.add(p["name"])
            if "hostPort" in p:
                assert 1 <= p["hostPort"] <= 65535
                assert (p["hostPort"], p["protocol"]) not in host_ports
                host_ports.add((p["hostPort"], p["protocol"]))
                if spec.get("hostNetwork"):
                    assert p["hostPort"] == p["containerPort"]
        paths = set()
        for m in c.get("volumeMounts", []):
            assert m["name"] in vnames, (m, vnames)
            assert m["mountPath"] not in paths, m
            paths.add(m["mountPath"])
        env_names = [e["name"] for e in c.get("env", [])]
        assert len(env_names) == len(set(env_names)), env_names
        for e in c.get("env", []):
            assert ENV_NAME.match(e["name"]), e
            assert ("value" in e) != ("valueFrom" in e), e
            if "valueFrom" in e:
                ref = e["valueFrom"]["secretKeyRef"]
                assert DNS_SUBDOMAIN.match(ref["name"]) and len(ref["name"]) <= 253, ref
                assert SECRET_KEY.match(ref["key"]), ref
        for ef in c.get("envFrom", []):
            assert DNS_SUBDOMAIN.match(ef["configMapRef"]["name"])
        for kind in ("requests", "limits"):
            for q in c.get("resources", {}).get(kind, {}).values():
                assert QUANTITY.match(q), q
        req_mem = c.get("resources", {}).get("requests", {}).get("memory")
        lim_mem = c.get("resources", {}).get("limits", {}).get("memory")
        if req_mem and lim_mem:
            assert int(req_mem[:-2]) <= int(lim_mem[:-2])
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if probe in c:
                pr = c[probe]
                assert pr["exec"]["command"], pr
                assert pr["periodSeconds"] >= 1 and pr["timeoutSeconds"] >= 1 and pr["failureThreshold"] >= 1
    for c in spec.get("initContainers", []):
        if c.get("restartPolicy") != "Always":  # a regular init container takes no probes
            assert not {"startupProbe", "readinessProbe", "livenessProbe"} & set(c), c["name"]
    for c in spec["containers"]:  # a main container restarts by itself only through an ECS restartPolicy
        assert c.get("restartPolicy") in (None, "Always", "Never"), c["name"]
        assert "restartPolicyRules" not in c or c["restartPolicy"] == "Never", c["name"]
    for s in spec.get("imagePullSecrets", []):
        assert DNS_SUBDOMAIN.match(s["name"])
    if "serviceAccountName" in spec:
        assert DNS_SUBDOMAIN.match(spec["serviceAccountName"])
    for ha in spec.get("hostAliases", []):
        for h in ha["hostnames"]:
            assert DNS_SUBDOMAIN.match(h), h
    if spec.get("dnsPolicy") == "None":
        assert 1 <= len(spec["dnsConfig"]["nameservers"]) <= 3
    if "hostname" in spec:
        assert DNS_LABEL.match(spec["hostname"])
    sysctls = [s["name"] for s in spec.get("securityContext", {}).get("sysctls", [])]
    assert len(sysctls) == len(set(sysctls))
    for kind in ("requests", "limits"):
        for q in spec.get("resources", {}).get(kind, {}).values():
            assert QUANTITY.match(q), q


def check_translation(t: TaskTranslation) -> None:
    check_pod_template(t.template)
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for v in t.template["spec"].get("volumes", [])
        if "persistentVolumeClaim" in v
    }
    for o in t.objects:
        assert DNS_LABEL.match(o["metadata"]["name"]), o
        if o["kind"] == "PersistentVolumeClaim":
            assert o["metadata"]["name"] in claims
    assert sorted(t.container_names.values()) == sorted(
        c["name"] for c in t.template["spec"].get("initContainers", []) + t.template["spec"]["containers"]
    )


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


def translate(d: dict, *, family: str = "fam", revision: int = 1) -> TaskTranslation:
    td = RegisterTaskDefinitionRequest.model_validate(d)
    t = translate_task_definition(td, family=family, revision=revision)
    check_translation(t)
    return t


def td(*containers: dict, **task: Any) -> dict:
    return {"family": "fam", "containerDefinitions": list(containers), **task}


def c(name: str = "app", **fields: Any) -> dict:
    return {"name": name, "image": "busybox", **fields}


def spec_of(t: TaskTranslation) -> dict:
    return t.template["spec"]


def container(t: TaskTranslation, name: str) -> dict:
    s = spec_of(t)
    return next(x for x in s.get("initContainers", []) + s["containers"] if x["name"] == name)


def warned(t: TaskTranslation, field: str) -> bool:
    return any(w.field == field for w in t.warnings)


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True


def _as_golden(t: TaskTranslation) -> dict:
    return {
        "template": t.template,
        "objects": list(t.objects),
        "container_names": t.container_names,
        "warnings": [f"{w.field}: {w.message}" for w in t.warnings],
    }


def assert_golden(name: str, data: dict) -> None:
    path = GOLDEN / f"{name}.yaml"
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"missing golden {path}; run with UPDATE_GOLDEN=1"
    expected = yaml.safe_load(path.read_text())
    assert json.loads(json.dumps(data)) == expected, f"{path} differs; rerun with UPDATE_GOLDEN=1 and review"


# ------------------------------------------------------------------------------------------
# Golden cases, one per group of fields
# ------------------------------------------------------------------------------------------

GOLDEN_CASES: dict[str, dict] = {
    "names": td(
        c("Web_Server"),
        c("web-server", essential=False),
        c("x" * 100),
        c("A-Very_Long_Container_Name_" + "y" * 60),
        c("-_-"),
    ),
    "resources": td(
        c("app", cpu=512, memory=1024, memoryReservation=256, resourceRequirements=[{"type": "GPU", "value": "2"}]),
        c("side", cpu=100, memoryReservation=128),
        c(
            "neuron",
            cpu=1,
            memory=64,
            resourceRequirements=[
                {"type": "NeuronDevice", "value": "1"},
                {"type": "InferenceAccelerator", "value": "device_1"},
                {"type": "GPU", "value": "1", "sharingStrategy": {"nvidiaMps": {"memory": 1024}}},
            ],
        ),
        cpu="1 vCPU",
        memory="2 GB",
        ephemeralStorage={"sizeInGiB": 30},
    ),
    "command_env": td(
        c(
            "app",
            entryPoint=["sh", "-c"],
            command=["echo $$ $(date) $HOME $$(x)"],
            workingDirectory="/srv",
            environment=[
                {"name": "A", "value": "1"},
                {"name": "B", "value": "$(A)"},
                {"name": "A", "value": "2"},
                {"name": "DB_PASSWORD", "value": "plain"},
                {"name": "EMPTY"},
                {"value": "no-name"},
            ],
            environmentFiles=[
                {"value": "arn:aws:s3:::bucket/app/prod.env", "type": "s3"},
                {"value": "arn:aws:s3:::other/app/prod.env", "type": "s3"},
            ],
            secrets=[
                {
                    "name": "DB_PASSWORD",
                    "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf",
                },
                {
                    "name": "DB_USER",
                    "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf:username::",
                },
                {
                    "name": "DB_OLD",
                    "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf:password:AWSPREVIOUS:",
                },
                {"name": "PARTIAL", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:partial"},
                {"name": "SSM_ARN", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/app/Api_Key"},
                {"name": "SSM_PATH", "valueFrom": "/app/token"},
                {"name": "SSM_NAME", "valueFrom": "plain_name"},
            ],
        ),
    ),
    "ports_awsvpc": td(
        c(
            "web",
            portMappings=[
                {"containerPort": 8080, "hostPort": 8080, "name": "web_HTTP", "appProtocol": "http"},
                {"containerPort": 8443, "name": "a-very-long-port-name-indeed", "appProtocol": "http2"},
                {"containerPort": 9000, "protocol": "udp"},
                {"containerPort": 9000, "protocol": "udp"},
                {"containerPortRange": "7000-7002"},
                {"containerPortRange": "10000-20000"},
            ],
        ),
        c(
            "grpc",
            portMappings=[
                {"containerPort": 50051, "name": "web_HTTP", "appProtocol": "grpc"},
                {"containerPort": 50052, "name": "1234"},
            ],
        ),
        networkMode="awsvpc",
    ),
    "ports_bridge": td(
        c(
            "web",
            portMappings=[
                {"containerPort": 80, "hostPort": 8080},
                {"containerPort": 81, "hostPort": 0},
                {"containerPort": 82},
                {"containerPort": 53, "hostPort": 53, "protocol": "udp"},
                {"containerPortRange": "6000-6001"},
            ],
        ),
    ),
    "ports_host": td(
        c(
            "web",
            portMappings=[
                {"containerPort": 80},
                {"containerPort": 443, "hostPort": 443, "name": "https"},
                {"containerPort": 8080, "hostPort": 9090},
                {"containerPortRange": "5000-5001"},
            ],
        ),
        networkMode="host",
    ),
    "network_none": td(c("app"), networkMode="none"),
    "health": td(
        c(
            "cmd",
            healthCheck={
                "command": ["CMD", "curl", "-f", "http://localhost/"],
                "interval": 10,
                "timeout": 2,
                "retries": 5,
            },
        ),
        c("shell", healthCheck={"command": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"], "startPeriod": 45}),
        c("none", healthCheck={"command": ["NONE"]}),
        c("side", essential=False, healthCheck={"command": ["CMD-SHELL", "true"], "startPeriod": 10}),
    ),
    "depends_on": td(
        c(
            "app",
            dependsOn=[
                {"containerName": "migrate", "condition": "SUCCESS"},
                {"containerName": "envoy", "condition": "HEALTHY"},
                {"containerName": "xray", "condition": "START"},
            ],
        ),
        c(
            "migrate",
            essential=False,
            dependsOn=[{"containerName": "fetch", "condition": "COMPLETE"}],
            healthCheck={"command": ["CMD", "true"]},
        ),
        c("fetch", essential=False),
        c(
            "envoy",
            healthCheck={
                "command": ["CMD-SHELL", "curl -s localhost:9901/ready"],
                "interval": 5,
                "retries": 3,
                "startPeriod": 10,
            },
        ),
        c("xray", essential=False),
        c(
            "worker",
            dependsOn=[
                {"containerName": "nohealth", "condition": "HEALTHY"},
                {"containerName": "fetch", "condition": "START"},
            ],
        ),
        c("nohealth"),
    ),
    "volumes": td(
        c(
            "app",
            mountPoints=[
                {"sourceVolume": "host_data", "containerPath": "/data", "readOnly": True},
                {"sourceVolume": "scratch", "containerPath": "/scratch"},
                {"sourceVolume": "plain", "containerPath": "/plain"},
                {"sourceVolume": "task_docker", "containerPath": "/docker"},
                {"sourceVolume": "shared_docker", "containerPath": "/shared"},
                {"sourceVolume": "nfs", "containerPath": "/nfs"},
                {"sourceVolume": "tmp", "containerPath": "/tmpfs"},
                {"sourceVolume": "efs", "containerPath": "/efs"},
                {"sourceVolume": "efs_again", "containerPath": "/efs2"},
                {"sourceVolume": "efs_ap", "containerPath": "/efs3"},
                {"sourceVolume": "launch", "containerPath": "/ebs"},
                {"sourceVolume": "s3", "containerPath": "/s3"},
                {"sourceVolume": "plugin", "containerPath": "/plugin"},
            ],
        ),
        c(
            "reader",
            volumesFrom=[{"sourceContainer": "app", "readOnly": True}],
            mountPoints=[{"sourceVolume": "scratch", "containerPath": "/data"}],
        ),
        c("chained", volumesFrom=[{"sourceContainer": "reader"}]),
        volumes=[
            {"name": "host_data", "host": {"sourcePath": "/var/data"}},
            {"name": "scratch", "host": {}},
            {"name": "plain"},
            {
                "name": "task_docker",
                "dockerVolumeConfiguration": {"scope": "task", "driver": "local", "labels": {"a": "b"}},
            },
            {"name": "shared_docker", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": True}},
            {
                "name": "nfs",
                "dockerVolumeConfiguration": {
                    "driver": "local",
                    "driverOpts": {"type": "nfs", "device": ":/exports/data", "o": "addr=10.0.0.5,nfsvers=4,ro"},
                },
            },
            {
                "name": "tmp",
                "dockerVolumeConfiguration": {"driver": "local", "driverOpts": {"type": "tmpfs", "device": "tmpfs"}},
            },
            {"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-12345678", "rootDirectory": "/"}},
            {"name": "efs_again", "efsVolumeConfiguration": {"fileSystemId": "fs-12345678"}},
            {
                "name": "efs_ap",
                "efsVolumeConfiguration": {
                    "fileSystemId": "fs-12345678",
                    "rootDirectory": "/app/Data",
                    "transitEncryption": "ENABLED",
                    "transitEncryptionPort": 2999,
                    "authorizationConfig": {"accessPointId": "fsap-0123", "iam": "ENABLED"},
                },
            },
            {"name": "launch", "configuredAtLaunch": True},
            {
                "name": "s3",
                "s3filesVolumeConfiguration": {
                    "fileSystemArn": "arn:aws:s3files:us-east-1:123456789012:file-system/fs-abc",
                    "rootDirectory": "/x",
                },
            },
            {"name": "plugin", "dockerVolumeConfiguration": {"driver": "rexray/ebs", "scope": "task"}},
            {"name": "unused", "host": {"sourcePath": "/unused"}},
        ],
    ),
    "linux": td(
        c(
            "app",
            linuxParameters={
                "capabilities": {"add": ["CAP_NET_ADMIN", "sys_time", "NET_ADMIN"], "drop": ["ALL"]},
                "devices": [{"hostPath": "/dev/fuse", "containerPath": "/dev/fuse", "permissions": ["read"]}],
                "initProcessEnabled": True,
                "sharedMemorySize": 256,
                "tmpfs": [
                    {"containerPath": "/run", "size": 64, "mountOptions": ["noexec"]},
                    {"containerPath": "/cache", "size": 128},
                ],
                "maxSwap": 512,
                "swappiness": 10,
            },
            ulimits=[{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
            systemControls=[
                {"namespace": "net.ipv4.tcp_keepalive_time", "value": "60"},
                {"namespace": "net.core.somaxconn", "value": "1024"},
            ],
        ),
        c(
            "other",
            systemControls=[{"namespace": "net.core.somaxconn", "value": "1024"}],
            linuxParameters={"sharedMemorySize": 64},
        ),
    ),
    "security": td(
        c(
            "numeric",
            user="1000:2000",
            privileged=True,
            readonlyRootFilesystem=True,
            dockerSecurityOptions=["no-new-privileges"],
        ),
        c(
            "named",
            user="nginx",
            dockerSecurityOptions=["apparmor:my-profile", "label:type:svirt_t", "no-new-privileges:true"],
        ),
        c(
            "mixed",
            user="1000:staff",
            dockerSecurityOptions=["credentialspec:file://x.json"],
            linuxParameters={"capabilities": {"add": ["SYS_ADMIN"]}},
        ),
        c(
            "uid",
            user="0",
            dockerSecurityOptions=["no-new-privileges"],
            linuxParameters={"capabilities": {"add": ["SYS_ADMIN"]}},
        ),
    ),
    "network_dns": td(
        c(
            "web",
            links=["db", "cache:redis"],
            hostname="web.example.com",
            extraHosts=[
                {"hostname": "api.local", "ipAddress": "10.0.0.1"},
                {"hostname": "Api2.Local", "ipAddress": "10.0.0.1"},
                {"hostname": "v6.local", "ipAddress": "fd00::1"},
            ],
            dnsServers=["10.0.0.2", "10.0.0.3"],
            dnsSearchDomains=["corp.example.com"],
            interactive=True,
            pseudoTerminal=True,
        ),
        c("db", hostname="db", dnsServers=["10.0.0.2"], disableNetworking=True),
        c("cache"),
    ),
    "dns_search_only": td(c("app", dnsSearchDomains=["svc.example.com", "Example.org."])),
    "namespaces": td(c("app"), pidMode="task", ipcMode="host"),
    "namespaces_host": td(c("app"), pidMode="host", ipcMode="none"),
    "roles_platform": td(
        c(
            "app",
            repositoryCredentials={
                "credentialsParameter": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:registry/creds-a1B2c3"
            },
        ),
        c(
            "side",
            repositoryCredentials={
                "credentialsParameter": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:registry/creds-a1B2c3"
            },
        ),
        taskRoleArn="arn:aws:iam::123456789012:role/service-role/My_App-Role",
        executionRoleArn="arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        runtimePlatform={"operatingSystemFamily": "LINUX", "cpuArchitecture": "ARM64"},
        placementConstraints=[{"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t3.*"}],
        requiresCompatibilities=["EC2", "FARGATE"],
        networkMode="awsvpc",
        tags=[{"key": "team", "value": "a"}],
    ),
    "windows": td(
        c("app", user="ContainerAdministrator", healthCheck={"command": ["CMD-SHELL", "exit 0"]}),
        runtimePlatform={"operatingSystemFamily": "WINDOWS_SERVER_2022_CORE", "cpuArchitecture": "X86_64"},
        cpu="1024",
        memory="2048",
    ),
    "logging_misc": td(
        c(
            "app",
            logConfiguration={
                "logDriver": "awsfirelens",
                "options": {"Name": "cloudwatch"},
                "secretOptions": [{"name": "apikey", "valueFrom": "/logs/key"}],
            },
            dockerLabels={"com.example.team": "a"},
            restartPolicy={"enabled": True, "ignoredExitCodes": [0]},
            startTimeout=120,
            stopTimeout=90,
            versionConsistency="enabled",
            credentialSpecs=["credentialspec:x"],
        ),
        c(
            "router",
            firelensConfiguration={"type": "fluentbit", "options": {"enable-ecs-log-metadata": "true"}},
            stopTimeout=10,
            versionConsistency="disabled",
        ),
        proxyConfiguration={
            "type": "APPMESH",
            "containerName": "router",
            "properties": [{"name": "AppPorts", "value": "8080"}],
        },
        inferenceAccelerators=[{"deviceName": "device_1", "deviceType": "eia2.medium"}],
        enableFaultInjection=True,
        trustedExecutionConfiguration={"isolationMode": "ISOLATED_SANDBOX"},
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden(name: str) -> None:
    d = GOLDEN_CASES[name]
    t = translate(d, family=d["family"], revision=3)
    assert_golden(name, {"input": d, **_as_golden(t)})


# ------------------------------------------------------------------------------------------
# The published examples
# ------------------------------------------------------------------------------------------

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json")) if EXAMPLES.is_dir() else []


def _outcome(path: Path) -> tuple[str, str, TaskTranslation | None]:
    data = register_input_from_ecs_json(json.loads(path.read_text()))
    try:
        model = RegisterTaskDefinitionRequest.model_validate(data)
        t = translate_task_definition(model, family=model.family or path.stem, revision=1)
    except ValidationError as e:
        fields = ", ".join(".".join(str(x) for x in err["loc"]) for err in e.errors())
        return "invalid", fields, None
    except TranslationError as e:
        return "rejected", str(e), None
    return "translated", f"{len(t.warnings)} warnings", t


def test_examples_exist() -> None:
    assert EXAMPLE_FILES, f"no examples at {EXAMPLES}"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_example(path: Path) -> None:
    outcome, detail, t = _outcome(path)  # anything but these two errors fails the test
    if t is None:
        assert detail  # the message names the field
        assert_golden(f"examples/{path.stem}", {"outcome": outcome, "error": detail})
        return
    check_translation(t)
    assert_golden(f"examples/{path.stem}", {"outcome": outcome, **_as_golden(t)})


def test_examples_summary(capsys) -> None:
    rows = [(p.name, *_outcome(p)[:2]) for p in EXAMPLE_FILES]
    with capsys.disabled():
        print("\n\ntranslation of shared/ecs-examples/taskdefs:")
        for name, outcome, detail in rows:
            print(f"  {outcome:<10} {detail:<14} {name}")
    assert all(o in ("translated", "invalid", "rejected") for _, o, _ in rows)


# ------------------------------------------------------------------------------------------
# Every field is translated, warned or ignored with a reason
# ------------------------------------------------------------------------------------------

MODELS = [RegisterTaskDefinitionRequest, ContainerDefinition, PortMapping, Volume, LinuxParameters, HealthCheck]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_field_is_accounted_for(model) -> None:
    for field in model.model_fields:
        key = f"{model.__name__}.{field}"
        tables = [
            n
            for n, t in (("TRANSLATED", TRANSLATED), ("WARNED", WARNED), ("IGNORED_WITH_REASON", IGNORED_WITH_REASON))
            if key in t
        ]
        assert len(tables) == 1, f"{key} must be in exactly one of TRANSLATED/WARNED/IGNORED_WITH_REASON: {tables}"


def test_tables_have_no_stale_entries() -> None:
    fields = {f"{m.__name__}.{f}" for m in MODELS for f in m.model_fields}
    for table in (TRANSLATED, WARNED, IGNORED_WITH_REASON):
        assert set(table) <= fields, set(table) - fields
        assert all(reason.strip() for reason in table.values())


def test_mapping_doc_lists_every_field(repo) -> None:
    doc = (repo / "docs" / "taskdefinition-mapping.md").read_text()
    for m in (RegisterTaskDefinitionRequest, ContainerDefinition):
        for f in m.model_fields:
            assert f"`{f}`" in doc, f"docs/taskdefinition-mapping.md does not mention {m.__name__}.{f}"


# ------------------------------------------------------------------------------------------
# Focused behaviour
# ------------------------------------------------------------------------------------------


def test_labels_and_annotations() -> None:
    t = translate(td(c("Web_1")), family="my_Family", revision=12)
    md = t.template["metadata"]
    assert md["labels"] == {
        "ecs.seed.dev/family": "my_Family",
        "ecs.seed.dev/revision": "12",
        "app.kubernetes.io/managed-by": "ecs-operator",
    }
    assert md["annotations"]["ecs.seed.dev/task-definition"] == "my_Family:12"
    assert json.loads(md["annotations"]["ecs.seed.dev/container-names"]) == {"web-1": "Web_1"}
    assert json.loads(md["annotations"]["ecs.seed.dev/essential-containers"]) == ["web-1"]
    assert t.container_names == {"Web_1": "web-1"}
    long = "f" * 200
    t = translate(td(c()), family=long)
    assert len(t.template["metadata"]["labels"]["ecs.seed.dev/family"]) <= 63


def test_unchanged_names_have_no_container_names_annotation() -> None:
    t = translate(td(c("web")))
    assert "ecs.seed.dev/container-names" not in t.template["metadata"]["annotations"]
    assert spec_of(t)["enableServiceLinks"] is False
    assert spec_of(t)["automountServiceAccountToken"] is False
    assert spec_of(t)["terminationGracePeriodSeconds"] == 30


def test_deterministic() -> None:
    d = GOLDEN_CASES["volumes"]
    assert translate(d) == translate(d)


def test_output_shares_no_dicts() -> None:
    t = translate(GOLDEN_CASES["health"])
    probe = container(t, "cmd")
    assert probe["readinessProbe"]["exec"] is not probe["livenessProbe"]["exec"]


def test_container_name_collision_and_truncation() -> None:
    t = translate(td(c("Web"), c("web"), c("a" * 255)))
    k = t.container_names
    assert k["Web"] == "web" and k["web"] != "web" and k["web"].startswith("web-")
    assert len(k["a" * 255]) == 63


@pytest.mark.parametrize(
    "value,units",
    [
        ("256", 256),
        ("1024", 1024),
        ("0.25 vCPU", 256),
        ("1 vCPU", 1024),
        ("2vcpu", 2048),
        (" 512 ", 512),
        ("0.5 VCPU", 512),
    ],
)
def test_parse_task_cpu(value, units) -> None:
    assert parse_task_cpu(value) == units


@pytest.mark.parametrize(
    "value,mib", [("512", 512), ("1 GB", 1024), ("2GB", 2048), ("0.5 GB", 512), ("3 gb", 3072), ("1024 MiB", 1024)]
)
def test_parse_task_memory(value, mib) -> None:
    assert parse_task_memory(value) == mib


@pytest.mark.parametrize(
    "field,value",
    [("cpu", "lots"), ("cpu", "0"), ("cpu", "1 GB"), ("memory", "1 TB"), ("memory", "-1"), ("memory", "")],
)
def test_unparsable_task_size(field, value) -> None:
    if value == "":
        t = translate(td(c(), **{field: value}))  # empty string: not set
        assert "resources" not in spec_of(t)
        return
    with pytest.raises(TranslationError, match=f"^{field}: "):
        translate(td(c(), **{field: value}))


def test_task_size_and_container_millicores() -> None:
    t = translate(td(c("a", cpu=1), c("b", cpu=1), c("c", cpu=1), cpu="3"))
    # each container rounds up to 1m; the pod-level request covers their sum
    assert spec_of(t)["resources"]["requests"]["cpu"] == "3m"
    t = translate(td(c("a", cpu=1024, memory=512), cpu="2 vCPU", memory="1GB"))
    assert spec_of(t)["resources"] == {
        "requests": {"cpu": "2", "memory": "1024Mi"},
        "limits": {"cpu": "2", "memory": "1024Mi"},
    }
    assert container(t, "a")["resources"] == {
        "requests": {"cpu": "1", "memory": "512Mi"},
        "limits": {"memory": "512Mi"},
    }


@pytest.mark.parametrize(
    "d,field",
    [
        (td(c("a", cpu=512), cpu="256"), "cpu"),
        (td(c("a", memory=1024), memory="512"), "containerDefinitions[a].memory"),
        (td(c("a", memoryReservation=400), c("b", memoryReservation=400), memory="512"), "memory"),
        (td(c("a", memory=100, memoryReservation=200)), "containerDefinitions[a].memoryReservation"),
        (td(c("a", cpu=-1)), "containerDefinitions[a].cpu"),
        (
            td(c("a", mountPoints=[{"sourceVolume": "nope", "containerPath": "/x"}])),
            "containerDefinitions[a].mountPoints[0].sourceVolume",
        ),
        (
            td(
                c(
                    "a",
                    mountPoints=[
                        {"sourceVolume": "v", "containerPath": "/x"},
                        {"sourceVolume": "v", "containerPath": "/x/"},
                    ],
                ),
                volumes=[{"name": "v"}],
            ),
            "containerDefinitions[a].mountPoints",
        ),
        (
            td(
                c("a", dependsOn=[{"containerName": "b", "condition": "START"}]),
                c("b", dependsOn=[{"containerName": "a", "condition": "START"}]),
            ),
            "dependsOn",
        ),
        (td(c("a", dependsOn=[{"containerName": "a", "condition": "START"}])), "containerDefinitions[a].dependsOn"),
        (td(c("a", dependsOn=[{"containerName": "ghost", "condition": "START"}])), "containerDefinitions[a].dependsOn"),
        (
            td(c("a", dependsOn=[{"containerName": "b", "condition": "SUCCESS"}]), c("b")),
            "containerDefinitions[b].essential",
        ),
        (td(c("a", essential=False)), "containerDefinitions"),
        (td(c("a"), c("a")), "containerDefinitions[a].name"),
        (td(c("a", image="")), "containerDefinitions[a].image"),
        (td({"image": "x"}), "containerDefinitions[0].name"),
        (
            td(
                c("a"),
                volumes=[
                    {
                        "name": "w",
                        "fsxWindowsFileServerVolumeConfiguration": {
                            "fileSystemId": "fs-1",
                            "rootDirectory": "share",
                            "authorizationConfig": {"credentialsParameter": "arn", "domain": "corp"},
                        },
                    }
                ],
            ),
            "volumes[w].fsxWindowsFileServerVolumeConfiguration",
        ),
        (td(c("a"), volumes=[{"name": "v"}, {"name": "v"}]), "volumes[v].name"),
        (td(c("a"), volumes=[{"host": {"sourcePath": "/x"}}]), "volumes[0].name"),
        (
            td(
                c("a", systemControls=[{"namespace": "net.core.somaxconn", "value": "1"}]),
                c("b", systemControls=[{"namespace": "net.core.somaxconn", "value": "2"}]),
            ),
            "containerDefinitions[b].systemControls",
        ),
        (td(c("a", systemControls=[{"namespace": "Net Bad", "value": "1"}])), "containerDefinitions[a].systemControls"),
        (td(c("a", healthCheck={"command": ["curl", "x"]})), "containerDefinitions[a].healthCheck.command"),
        (td(c("a", healthCheck={"command": ["CMD"]})), "containerDefinitions[a].healthCheck.command"),
        (
            td(
                c("a", portMappings=[{"containerPort": 80, "hostPort": 80}]),
                c("b", portMappings=[{"containerPort": 81, "hostPort": 80}]),
            ),
            "containerDefinitions[b].portMappings[0].hostPort",
        ),
        (td(c("a", portMappings=[{"containerPort": 0}])), "containerDefinitions[a].portMappings[0].containerPort"),
        (td(c("a", portMappings=[{"hostPort": 80}])), "containerDefinitions[a].portMappings[0].containerPort"),
        (
            td(c("a", portMappings=[{"containerPortRange": "9-2"}])),
            "containerDefinitions[a].portMappings[0].containerPortRange",
        ),
        (td(c("a", links=["ghost"])), "containerDefinitions[a].links"),
        (td(c("a", extraHosts=[{"hostname": "x", "ipAddress": "not-an-ip"}])), "containerDefinitions[a].extraHosts"),
        (td(c("a", dnsServers=["8.8.8.300"])), "containerDefinitions[a].dnsServers"),
        (td(c("a", volumesFrom=[{"sourceContainer": "ghost"}])), "containerDefinitions[a].volumesFrom"),
        (
            td(c("a", volumesFrom=[{"sourceContainer": "b"}]), c("b", volumesFrom=[{"sourceContainer": "a"}])),
            "volumesFrom",
        ),
        (
            td(c("a", resourceRequirements=[{"type": "GPU", "value": "two"}])),
            "containerDefinitions[a].resourceRequirements[0].value",
        ),
        (
            td(c("a", linuxParameters={"sharedMemorySize": 0})),
            "containerDefinitions[a].linuxParameters.sharedMemorySize",
        ),
        (td(c("a"), volumes=[{"name": "v", "host": {"sourcePath": "/a/../etc"}}]), "volumes[v].host.sourcePath"),
    ],
)
def test_translation_errors_name_the_field(d, field) -> None:
    with pytest.raises(TranslationError) as e:
        translate(d)
    assert field in str(e.value)
    assert field in e.value.field or e.value.field in field


def test_environment_dedupe_and_secret_precedence() -> None:
    t = translate(GOLDEN_CASES["command_env"])
    env = {e["name"]: e for e in container(t, "app")["env"]}
    assert env["A"]["value"] == "2"
    assert [e["name"] for e in container(t, "app")["env"]][:2] == ["A", "B"]
    assert env["B"]["value"] == "$$(A)"
    assert env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "prod-db", "key": "value"}
    assert env["DB_USER"]["valueFrom"]["secretKeyRef"] == {"name": "prod-db", "key": "username"}
    assert warned(t, "containerDefinitions[app].secrets[DB_PASSWORD]")
    assert warned(t, "containerDefinitions[app].secrets[DB_OLD].valueFrom")
    assert container(t, "app")["args"] == ["echo $$$ $$(date) $HOME $$$$(x)"]
    assert container(t, "app")["envFrom"] == [{"configMapRef": {"name": "app-prod-env"}}]


@pytest.mark.parametrize(
    "value_from,name,key",
    [
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf", "prod-db", "value"),
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf:password::", "prod-db", "password"),
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf:pw:AWSCURRENT:v1", "prod-db", "pw"),
        ("arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:db", "db", "value"),
        ("arn:aws:ssm:us-east-1:123456789012:parameter/app/db/password", "app-db-password", "value"),
        ("arn:aws:ssm:us-east-1:123456789012:parameter/plain", "plain", "value"),
        ("/app/db/password", "app-db-password", "value"),
        ("plain_Name", "plain-name", "value"),
        ("arn:aws:secretsmanager:us-east-1:1:secret:k-AbCdEf:a key!::", "k", "a_key_"),
    ],
)
def test_secret_naming_rule(value_from, name, key) -> None:
    ref = names.secret_ref(value_from)
    assert (ref.name, ref.key) == (name, key)


def test_other_naming_rules() -> None:
    assert names.config_map_name("arn:aws:s3:::bucket/app/prod.env") == "app-prod-env"
    assert names.service_account_name("arn:aws:iam::1:role/path/My_Role") == "ecs-task-my-role"
    assert names.efs_claim_name("fs-1234", "/") == "efs-fs-1234"
    assert names.efs_claim_name("fs-1234", "/data/App") == "efs-fs-1234-data-app"
    taken: set[str] = set()
    assert names.port_name("http", taken) == "http"
    assert names.port_name("http", taken) != "http"
    assert names.port_name("8080", taken) == "p-8080"
    assert len(names.port_name("a_very_long_port_name", taken)) <= 15


def test_network_modes() -> None:
    pm = [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81}]
    bridge = container(translate(td(c("a", portMappings=pm))), "a")["ports"]
    assert bridge == [
        {"containerPort": 80, "protocol": "TCP", "hostPort": 8080},
        {"containerPort": 81, "protocol": "TCP"},
    ]
    awsvpc = translate(td(c("a", portMappings=pm), networkMode="awsvpc"))
    assert [p.get("hostPort") for p in container(awsvpc, "a")["ports"]] == [None, None]
    fargate = translate(td(c("a", portMappings=pm), requiresCompatibilities=["FARGATE"]))
    assert fargate.template["metadata"]["annotations"]["ecs.seed.dev/network-mode"] == "awsvpc"
    host = translate(td(c("a", portMappings=pm), networkMode="host"))
    assert spec_of(host)["hostNetwork"] is True and spec_of(host)["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert [p["hostPort"] for p in container(host, "a")["ports"]] == [80, 81]


def test_dependency_roles_and_order() -> None:
    t = translate(GOLDEN_CASES["depends_on"])
    s = spec_of(t)
    init = [(x["name"], x.get("restartPolicy")) for x in s["initContainers"]]
    assert init == [("fetch", None), ("migrate", None), ("envoy", "Always"), ("xray", "Always"), ("nohealth", "Always")]
    assert [x["name"] for x in s["containers"]] == ["app", "worker"]
    envoy = container(t, "envoy")
    assert envoy["startupProbe"]["failureThreshold"] == 2 + 3
    assert "startupProbe" not in container(t, "xray")
    assert "readinessProbe" not in container(t, "migrate")
    assert warned(t, "containerDefinitions[migrate].dependsOn")  # COMPLETE becomes "exit 0"
    assert warned(t, "containerDefinitions[nohealth].healthCheck")
    assert warned(t, "containerDefinitions[worker].dependsOn")  # START on an init container


def test_health_probes() -> None:
    t = translate(GOLDEN_CASES["health"])
    cmd = container(t, "cmd")
    assert cmd["livenessProbe"] == {
        "exec": {"command": ["curl", "-f", "http://localhost/"]},
        "periodSeconds": 10,
        "timeoutSeconds": 2,
        "failureThreshold": 5,
    }
    assert "startupProbe" not in cmd
    shell = container(t, "shell")
    assert shell["readinessProbe"]["exec"]["command"] == ["/bin/sh", "-c", "curl -f http://localhost/ || exit 1"]
    assert shell["startupProbe"]["failureThreshold"] == 2 + 3  # ceil(45/30) + 3
    assert not {"readinessProbe", "livenessProbe", "startupProbe"} & set(container(t, "none"))
    side = container(t, "side")
    # ECS: a non-essential container's health does not make the task unhealthy
    assert not {"readinessProbe", "livenessProbe", "startupProbe"} & set(side)
    assert warned(t, "containerDefinitions[side].healthCheck")


def test_volumes_and_objects() -> None:
    t = translate(GOLDEN_CASES["volumes"])
    vols = {v["name"]: v for v in spec_of(t)["volumes"]}
    assert vols["host-data"]["hostPath"] == {"path": "/var/data", "type": ""}
    assert vols["scratch"] == {"name": "scratch", "emptyDir": {}}
    assert vols["nfs"]["nfs"] == {"server": "10.0.0.5", "path": "/exports/data", "readOnly": True}
    assert vols["efs"]["persistentVolumeClaim"] == {"claimName": "efs-fs-12345678"}
    assert vols["efs-again"]["persistentVolumeClaim"] == {"claimName": "efs-fs-12345678"}
    pvcs = [o for o in t.objects if o["kind"] == "PersistentVolumeClaim"]
    assert [p["metadata"]["name"] for p in pvcs] == ["efs-fs-12345678", "efs-fs-12345678-app-data"]
    assert pvcs[0]["spec"] == {
        "accessModes": ["ReadWriteMany"],
        "storageClassName": "efs-sc",
        "resources": {"requests": {"storage": "5Gi"}},
    }
    assert pvcs[1]["metadata"]["annotations"]["ecs.seed.dev/efs-volume-handle"] == "fs-12345678:/app/Data:fsap-0123"
    assert warned(t, "volumes[efs_ap].efsVolumeConfiguration")
    reader = {m["mountPath"]: m for m in container(t, "reader")["volumeMounts"]}
    assert reader["/data"] == {"name": "scratch", "mountPath": "/data"}  # own mount wins
    assert reader["/scratch"]["readOnly"] is True
    chained = {m["mountPath"]: m for m in container(t, "chained")["volumeMounts"]}
    assert chained["/scratch"]["readOnly"] is True and chained["/data"] == reader["/data"]


def test_task_role_service_account() -> None:
    t = translate(GOLDEN_CASES["roles_platform"])
    s = spec_of(t)
    assert s["serviceAccountName"] == "ecs-task-my-app-role"
    assert s["automountServiceAccountToken"] is True
    assert t.objects[0] == {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": "ecs-task-my-app-role",
            "labels": {"app.kubernetes.io/managed-by": "ecs-operator"},
            "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/service-role/My_App-Role"},
        },
    }
    assert s["imagePullSecrets"] == [{"name": "registry-creds"}]
    assert s["nodeSelector"] == {"kubernetes.io/os": "linux", "kubernetes.io/arch": "arm64"}
    ann = t.template["metadata"]["annotations"]
    assert json.loads(ann["ecs.seed.dev/placement-constraints"]) == [
        {"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t3.*"}
    ]
    assert json.loads(ann["ecs.seed.dev/requires-compatibilities"]) == ["EC2", "FARGATE"]
    assert ann["ecs.seed.dev/execution-role-arn"] == "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
    assert not t.warnings  # placement, compatibilities and tags are not warned


def test_sysctls() -> None:
    t = translate(GOLDEN_CASES["linux"])
    assert spec_of(t)["securityContext"]["sysctls"] == [
        {"name": "net.ipv4.tcp_keepalive_time", "value": "60"},
        {"name": "net.core.somaxconn", "value": "1024"},
    ]
    msgs = [w.message for w in t.warnings if w.field.endswith("systemControls")]
    assert len(msgs) == 1 and "net.core.somaxconn" in msgs[0]
    host = translate(td(c("a", systemControls=[{"namespace": "net.core.somaxconn", "value": "1"}]), networkMode="host"))
    assert "securityContext" not in spec_of(host)


def test_security_context() -> None:
    t = translate(GOLDEN_CASES["security"])
    assert container(t, "numeric")["securityContext"] == {
        "runAsUser": 1000,
        "runAsGroup": 2000,
        "privileged": True,
        "readOnlyRootFilesystem": True,
    }
    assert warned(t, "containerDefinitions[numeric].dockerSecurityOptions")  # conflicts with privileged
    named = container(t, "named")["securityContext"]
    assert named == {
        "appArmorProfile": {"type": "Localhost", "localhostProfile": "my-profile"},
        "allowPrivilegeEscalation": False,
    }
    assert warned(t, "containerDefinitions[named].user")
    assert container(t, "mixed")["securityContext"] == {"runAsUser": 1000, "capabilities": {"add": ["SYS_ADMIN"]}}


def test_register_input_from_ecs_json() -> None:
    describe = {
        "taskDefinition": {
            "family": "f",
            "revision": 3,
            "status": "ACTIVE",
            "taskDefinitionArn": "arn:aws:ecs:us-east-1:1:task-definition/f:3",
            "requiresAttributes": [{"name": "x"}],
            "compatibilities": ["EC2"],
            "registeredAt": "2024-01-01T00:00:00Z",
            "registeredBy": "me",
            "containerDefinitions": [c()],
        },
        "tags": [{"key": "a", "value": "b"}],
    }
    out = register_input_from_ecs_json(describe)
    assert out == {"family": "f", "containerDefinitions": [c()], "tags": [{"key": "a", "value": "b"}]}
    assert "revision" in describe["taskDefinition"]  # pure
    plain = td(c())
    assert register_input_from_ecs_json(plain) == plain
    RegisterTaskDefinitionRequest.model_validate(out)


@pytest.mark.parametrize(
    "container, command, warned",
    [
        # nofile + entryPoint: a /bin/sh wrapper sets hard then soft, then execs the entryPoint
        (
            {
                "entryPoint": ["sh", "-c"],
                "command": ["ulimit -n"],
                "ulimits": [{"name": "nofile", "softLimit": 123, "hardLimit": 234}],
            },
            ["/bin/sh", "-c", 'ulimit -n 234 && ulimit -S -n 123 && exec "$@"', "ecs-ulimits", "sh", "-c"],
            None,
        ),
        # without an entryPoint the image's ENTRYPOINT is unknown: nothing wrapped, warned
        (
            {"command": ["sleep", "1"], "ulimits": [{"name": "nofile", "softLimit": 1, "hardLimit": 2}]},
            None,
            "nofile=1:2",
        ),
        # other ulimits are warned, nofile still applied
        (
            {
                "entryPoint": ["/app"],
                "ulimits": [
                    {"name": "nofile", "softLimit": 10, "hardLimit": 10},
                    {"name": "core", "softLimit": 0, "hardLimit": 0},
                ],
            },
            ["/bin/sh", "-c", 'ulimit -n 10 && ulimit -S -n 10 && exec "$@"', "ecs-ulimits", "/app"],
            "core=0:0",
        ),
        # no ulimits: the entryPoint as it is
        ({"entryPoint": ["/app", "$(x)"]}, ["/app", "$$(x)"], None),
    ],
)
def test_nofile_ulimit_wraps_a_known_entry_point(container, command, warned):
    t = translate(td(c("app", **container)))
    k = t.template["spec"]["containers"][0]
    assert k.get("command") == command
    msgs = [w.message for w in t.warnings if w.field == "containerDefinitions[app].ulimits"]
    assert (msgs[0] if msgs else None) is None if warned is None else warned in msgs[0]


@pytest.mark.parametrize(
    "value, limit, warned",
    [
        ("1", "1", False),
        ("2", "2", False),
        ("0.25", "1", True),  # ECS shares GPUs on Managed Instances; Kubernetes counts whole devices
        ("1.5", "2", True),
        ("2.", "2", False),
        (".5", "1", True),
    ],
)
def test_gpu_counts_admission_accepts_translate_to_whole_devices(value, limit, warned):
    t = translate(td(c("a", resourceRequirements=[{"type": "GPU", "value": value}])))
    assert t.template["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == limit
    msgs = [w for w in t.warnings if w.field == "containerDefinitions[a].resourceRequirements[0].value"]
    assert bool(msgs) == warned


@pytest.mark.parametrize("value", ["two", "0", "0.0", "-1", "", "nan", "inf", "1e3", " 3 "])
def test_gpu_counts_that_are_not_positive_numbers_are_refused_naming_the_field(value):
    with pytest.raises(TranslationError) as e:
        translate(td(c("a", resourceRequirements=[{"type": "GPU", "value": value}])))
    assert e.value.field == "containerDefinitions[a].resourceRequirements[0].value"


@pytest.mark.parametrize(
    "value", ["1", "2", "0.25", "1.5", "2.", ".5", "two", "0", "0.0", "-1", "", "nan", "1e3", " 3 "]
)
def test_gpu_count_admission_rule_and_translation_agree(value):
    """The CRD's CEL rule (same pattern, no zero) accepts exactly what the translator accepts."""
    from ecs_operator.models.gen import DEVICE_COUNT_PATTERN

    admitted = bool(re.fullmatch(DEVICE_COUNT_PATTERN, value)) and not re.fullmatch(r"[0.]+", value)
    try:
        translate(td(c("a", resourceRequirements=[{"type": "GPU", "value": value}])))
        translated = True
    except TranslationError:
        translated = False
    assert admitted == translated
