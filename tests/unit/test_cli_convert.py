"""ecs-operator convert / render: every published example converts, or exits 1 naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from ecs_operator.cli import main

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "ecs-examples"


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("path", sorted((SHARED / "taskdefs").glob("*.json")), ids=lambda p: p.name)
def test_every_published_task_definition_converts_to_a_cr(capsys, path):
    code, out, err = run(capsys, "convert", str(path))
    assert code == 0, err
    (doc,) = list(yaml.safe_load_all(out))
    assert doc["apiVersion"] == "ecs.seed.dev/v1alpha1" and doc["kind"] == "TaskDefinition"
    assert "taskDefinitionArn" not in doc["spec"] and "revision" not in doc["spec"]
    name = doc["metadata"]["name"]
    assert name == name.lower() and len(name) <= 63


@pytest.mark.parametrize("path", sorted((SHARED / "services").glob("*.json")), ids=lambda p: p.name)
def test_every_published_service_converts_or_names_the_field(capsys, path):
    code, out, err = run(capsys, "convert", str(path))
    if code == 0:
        (doc,) = list(yaml.safe_load_all(out))
        assert doc["kind"] == "ECSService" and doc["spec"]
    else:
        assert code == 1
        line = err.strip()
        assert line.count("\n") == 0 and line.startswith("error: ")
        field = line.split(": ")[2]
        assert field.split(".")[0].split("[")[0] in {
            "taskDefinition",
            "desiredCount",
            "serviceName",
            "launchType",
            "deploymentConfiguration",
            "cluster",
        }, line
    print(f"{path.name}: {'converted' if code == 0 else err.strip()}")


def test_render_example_prints_pod_template_and_deployment(capsys):
    code, out, err = run(capsys, "render", str(REPO / "examples" / "webserver.yaml"))
    assert code == 0, err
    kinds = [d["kind"] for d in yaml.safe_load_all(out)]
    assert kinds == ["PodTemplate", "Deployment"]
    dep = list(yaml.safe_load_all(out))[1]
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["template"]["metadata"]["annotations"]["ecs.seed.dev/task-definition"] == "webserver:1"


def test_render_reports_warnings_on_stderr(capsys, tmp_path):
    f = tmp_path / "td.json"
    f.write_text(
        json.dumps(
            {
                "family": "w",
                "containerDefinitions": [
                    {
                        "name": "a",
                        "image": "x",
                        "memory": 64,
                        "ulimits": [{"name": "nofile", "softLimit": 1, "hardLimit": 2}],
                    }
                ],
            }
        )
    )
    code, out, err = run(capsys, "render", str(f))
    assert code == 0
    assert "warning: TaskDefinition w: containerDefinitions[a].ulimits" in err


@pytest.mark.parametrize(
    "content,field",
    [
        (
            {"family": "w", "containerDefinitions": [{"name": "a", "image": "x", "bogus": 1}]},
            "containerDefinitions.0.bogus",
        ),
        ({"family": "w", "containerDefinitions": []}, "containerDefinitions"),
        ({"hello": 1}, "not an ECS task definition or service"),
    ],
)
def test_invalid_input_exits_1_with_one_line_naming_the_field(capsys, tmp_path, content, field):
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(content))
    code, out, err = run(capsys, "convert", str(f))
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and field in err


TD = {"family": "web", "containerDefinitions": [{"name": "web", "image": "httpd:2.4", "memory": 128}]}


@pytest.mark.parametrize("command", ["convert", "render"])
@pytest.mark.parametrize("indent", ["\t", 4, None], ids=["tabs", "spaces", "compact"])
def test_ecs_json_is_read_whatever_its_indentation(capsys, tmp_path, command, indent):
    f = tmp_path / "td.json"
    f.write_text(json.dumps(TD, indent=indent))
    code, out, err = run(capsys, command, str(f))
    assert code == 0, err
    docs = list(yaml.safe_load_all(out))
    assert docs[0]["kind"] == ("TaskDefinition" if command == "convert" else "PodTemplate")
