"""The ``ecs-scheduler`` on the local control plane: a second kube-scheduler whose single
profile (``schedulerName: ecs-scheduler``) calls the ECS placement extender
(``ecs-operator extender``) for /filter and /prioritize. Both run as local processes next to
the kwokctl cluster; pods opt in with ``spec.schedulerName: ecs-scheduler`` (the operator sets
it when ``ECS_OPERATOR_SCHEDULER_NAME=ecs-scheduler``). See docs/placement.md.

The processes are started in their own sessions so they outlive ``ecs-operator dev cluster up``;
their pids are recorded in ``<workdir>/<cluster>.ecs-scheduler.json`` so ``down`` (or
:meth:`EcsScheduler.stop` from another process) stops exactly them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..extender import SCHEDULER_NAME  # the name ECS task pods ask for

#: One rank step of the extender's score is worth ``weight * 10`` points; the default score
#: plugins add up to ~1,200, so 150 (1,500 per step) lets the ECS order win (docs/placement.md).
EXTENDER_WEIGHT = 150


class SchedulerError(RuntimeError):
    """The ecs-scheduler could not be started."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scheduler_config(
    kubeconfig: Path | str,
    extender_port: int,
    *,
    name: str = SCHEDULER_NAME,
    weight: int = EXTENDER_WEIGHT,
    bind: bool = True,
) -> dict:
    """The KubeSchedulerConfiguration of the ecs-scheduler (pure).

    ``bind``: the scheduler delegates binding to the extender (``bindVerb: bind``), which
    counts each pod on its node the moment it is chosen, so a burst of one service's tasks is
    spread and binpacked as one ECS decision would (docs/placement.md, "Bursts");
    ``bind=False`` gives the configuration without it (the extender then waits for each
    binding to come back through its watch)."""
    extender = {
        "urlPrefix": f"http://127.0.0.1:{extender_port}",
        "filterVerb": "filter",
        "prioritizeVerb": "prioritize",
        "weight": weight,
        "nodeCacheCapable": True,
        "ignorable": False,
        "enableHTTPS": False,
        "httpTimeout": "5s",
    }
    if bind:
        extender["bindVerb"] = "bind"
    return {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "leaderElection": {"leaderElect": False},
        "clientConnection": {"kubeconfig": str(kubeconfig), "qps": 200, "burst": 400},
        "profiles": [{"schedulerName": name}],
        "extenders": [extender],
    }


def _alive(pid: int, marker: str) -> bool:
    """``pid`` runs and its command line contains ``marker`` (guards against pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":  # a zombie is as good as gone
            return False
    except OSError:
        pass
    return marker in cmdline


def _stop_pid(pid: int, marker: str, timeout: float = 10.0) -> None:
    if not _alive(pid, marker):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:  # reap it if it is our child
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        if not _alive(pid, marker):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    except ProcessLookupError:
        pass


def http_ok(url: str, timeout: float = 1.0, body: bytes | None = b"ok") -> bool:
    """GET ``url`` answers 200 (and ``body``, unless None). https: the certificate is not checked
    (local self-signed ones)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=ctx) as r:
            return r.status == 200 and (body is None or r.read().strip() == body)
    except OSError:
        return False


@dataclass
class EcsScheduler:
    """The extender and the second kube-scheduler of one local cluster.

    ``workdir``/``cluster`` name the state files (config, logs, pids). The extender keeps
    nodes and pods in a watch cache and is healthy once it has listed them, so the scheduler
    only starts against a synced extender."""

    kubeconfig: Path
    bins: Path
    workdir: Path
    cluster: str
    weight: int = EXTENDER_WEIGHT
    bind: bool = True
    name: str = SCHEDULER_NAME
    extender_port: int | None = None
    secure_port: int | None = None
    pids: dict[str, int] = field(default_factory=dict)

    # -- files ----------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.workdir / f"{self.cluster}.{self.name}.json"

    @property
    def config_file(self) -> Path:
        return self.workdir / f"{self.cluster}.{self.name}.yaml"

    def log_file(self, what: str) -> Path:
        return self.workdir / f"{self.cluster}.{self.name}.{what}.log"

    def _markers(self) -> dict[str, str]:
        return {
            "extender": f"ecs_operator.cli extender --address 127.0.0.1 --port {self.extender_port} ",
            "scheduler": str(self.config_file),
        }

    def load(self) -> bool:
        """Read the recorded pids and ports; True when both processes still run."""
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return False
        self.pids = {k: int(v) for k, v in state.get("pids", {}).items()}
        self.extender_port = state.get("extender_port")
        self.secure_port = state.get("secure_port")
        marks = self._markers()
        return bool(self.pids) and all(_alive(self.pids.get(k, 0), m) for k, m in marks.items())

    def _save(self) -> None:
        self.state_file.write_text(
            json.dumps({"pids": self.pids, "extender_port": self.extender_port, "secure_port": self.secure_port}) + "\n"
        )

    # -- health ---------------------------------------------------------------------------
    def extender_url(self) -> str:
        return f"http://127.0.0.1:{self.extender_port}"

    def healthy(self) -> bool:
        return (
            self.extender_port is not None
            and self.secure_port is not None
            and http_ok(f"{self.extender_url()}/healthz")
            and http_ok(f"https://127.0.0.1:{self.secure_port}/readyz")
        )

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, timeout: float = 60.0, log=print) -> EcsScheduler:
        """Start the extender and the scheduler (or reuse running ones); wait until healthy."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.load() and self.healthy():
            log(f"{self.name} already running (extender :{self.extender_port}, scheduler :{self.secure_port})")
            return self
        self.stop()
        self.extender_port = free_port()
        self.secure_port = free_port()
        self.config_file.write_text(
            yaml.safe_dump(
                scheduler_config(
                    self.kubeconfig, self.extender_port, name=self.name, weight=self.weight, bind=self.bind
                ),
                sort_keys=False,
            )
        )
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("KUBECONFIG", None)
        try:
            self.pids["extender"] = self._spawn(
                "extender",
                [
                    sys.executable,
                    "-m",
                    "ecs_operator.cli",
                    "extender",
                    "--address",
                    "127.0.0.1",
                    "--port",
                    str(self.extender_port),
                    "--kubeconfig",
                    str(self.kubeconfig),
                    "--scheduler-name",
                    self.name,
                ],
                env,
            )
            self._save()
            self._wait("extender", f"{self.extender_url()}/healthz", timeout)
            self.pids["scheduler"] = self._spawn(
                "scheduler",
                [
                    str(self.bins / "kube-scheduler"),
                    "--config",
                    str(self.config_file),
                    "--bind-address",
                    "127.0.0.1",
                    "--secure-port",
                    str(self.secure_port),
                    "--cert-dir",
                    str(self.workdir / f"{self.cluster}.{self.name}.certs"),
                    "--authentication-skip-lookup",
                    "--authorization-always-allow-paths",
                    "/healthz,/readyz,/livez,/metrics",
                    "--v",
                    "2",
                ],
                env,
            )
            self._save()
            self._wait("scheduler", f"https://127.0.0.1:{self.secure_port}/readyz", timeout)
        except BaseException:
            self.stop()
            raise
        log(
            f"{self.name} running (extender :{self.extender_port}, kube-scheduler :{self.secure_port}, "
            f"logs {self.log_file('*')})"
        )
        return self

    def _spawn(self, what: str, cmd: list[str], env: dict) -> int:
        with open(self.log_file(what), "w") as out:
            proc = subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        return proc.pid

    def _wait(self, what: str, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        marker = self._markers()[what]
        while not http_ok(url):
            if not _alive(self.pids[what], marker):
                tail = self.log_file(what).read_text(errors="replace")[-3000:]
                raise SchedulerError(f"{self.name} {what} exited:\n{tail}")
            if time.monotonic() > deadline:
                raise SchedulerError(f"{self.name} {what} not healthy after {timeout:.0f}s ({url})")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the recorded processes (scheduler first) and forget them."""
        if not self.pids:
            self.load()
        marks = self._markers()
        for what in ("scheduler", "extender"):
            pid = self.pids.pop(what, None)
            if pid:
                _stop_pid(pid, marks[what])
        self.state_file.unlink(missing_ok=True)

    def clean(self) -> None:
        """Stop, then remove the generated configuration and serving certificates (logs stay)."""
        self.stop()
        self.config_file.unlink(missing_ok=True)
        shutil.rmtree(self.workdir / f"{self.cluster}.{self.name}.certs", ignore_errors=True)

    def running(self) -> bool:
        return self.load()

    def __enter__(self) -> EcsScheduler:
        return self.start() if not self.pids else self

    def __exit__(self, *exc) -> None:
        self.stop()
