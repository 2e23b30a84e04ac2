"""Container settings of a task definition, seen from inside real containers: volumes,
mountPoints and volumesFrom; links and extraHosts; user, readonlyRootFilesystem,
workingDirectory and the nofile ulimit."""

from __future__ import annotations

from ..integration.kube import wait_for
from .test_task_containers import BUSYBOX, containers_of, run_task, sh, status, stop_task, wait_status

REPORT = """
echo "msg=$(cat /data/msg)"
echo "uid=$(id -u) gid=$(id -g)"
echo "pwd=$(pwd)"
if touch /not-writable 2>/dev/null; then echo rootfs=writable; else echo rootfs=read-only; fi
if touch /data/x 2>/dev/null; then echo volume=writable; else echo volume=read-only; fi
echo "nofile=$(ulimit -n):$(ulimit -Hn)"
echo "alias=$(grep -w prod-alias /etc/hosts | awk '{print $1}')"
echo "extra=$(grep -w db.internal /etc/hosts | awk '{print $1}')"
echo "via-link=$(nc prod-alias 7000 </dev/null)"
echo END
exec sleep 3600
"""


def test_volumes_links_user_readonly_workdir_and_ulimits_seen_from_inside(custom, kubectl, namespace, operator):
    run_task(
        custom,
        namespace,
        "settings",
        {
            "name": "producer",
            "image": BUSYBOX,
            "essential": False,
            "mountPoints": [{"sourceVolume": "data", "containerPath": "/data"}],
            "command": sh("echo produced > /data/msg; while true; do echo hello-from-producer | nc -l -p 7000; done"),
        },
        {
            "name": "consumer",
            "image": BUSYBOX,
            "essential": True,
            "volumesFrom": [{"sourceContainer": "producer", "readOnly": True}],
            "links": ["producer:prod-alias"],
            "extraHosts": [{"hostname": "db.internal", "ipAddress": "10.1.2.3"}],
            "user": "1000:1000",
            "readonlyRootFilesystem": True,
            "workingDirectory": "/data",
            "ulimits": [{"name": "nofile", "softLimit": 123, "hardLimit": 234}],
            "entryPoint": ["sh", "-c"],
            "command": ["sleep 2; " + REPORT],
        },
        volumes=[{"name": "data", "host": {}}],
    )
    wait_status(custom, namespace, "settings", "RUNNING", timeout=120)
    out = wait_for(
        lambda: (lambda o: o if "END" in o else None)(
            kubectl("logs", "-n", namespace, "settings-0", "-c", "consumer").stdout
        ),
        timeout=60,
        desc="report",
    )
    seen = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert seen["msg"] == "produced", "volumesFrom shares the producer's volume"
    assert seen["uid"] == "1000 gid=1000"
    assert seen["pwd"] == "/data"
    assert seen["rootfs"] == "read-only"
    assert seen["volume"] == "read-only", "volumesFrom readOnly makes the shared mounts read-only"
    assert seen["nofile"] == "123:234"
    assert seen["alias"] == "127.0.0.1", "a link resolves to the task's own address"
    assert seen["extra"] == "10.1.2.3"
    assert seen["via-link"] == "hello-from-producer", "the linked container answers through its alias"
    st = status(custom, namespace, "settings")
    assert containers_of(st)["consumer"]["lastStatus"] == "RUNNING"
    stop_task(custom, namespace, "settings")
    wait_status(custom, namespace, "settings", "STOPPED", timeout=90)
