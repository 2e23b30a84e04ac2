"""Faults for the local control plane (tests/integration/test_chaos.py, bench/chaos.py): kill and
restart, freeze and thaw one of kwokctl's component processes, compact etcd, make a user with a
kubeconfig of its own. Use it on a cluster of its own: these break every client of the cluster.

kwokctl's binary runtime records each component's command (``kwok.yaml``: binary, args, workDir)
and pid (``pids/<component>.pid``); a restart re-executes the same command and records the new pid,
so ``kwokctl delete cluster`` still stops it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from .cluster import LocalCluster


@dataclass
class ChaosCluster(LocalCluster):
    """A :class:`LocalCluster` whose faults can be injected. Unlike the other local clusters its
    API server keeps API Priority and Fairness (and its default in-flight limits): the throttling
    fault needs it. (kwokctl's ``--disable-qps-limits`` turns APF off.)"""

    def __post_init__(self) -> None:
        self._down: set[str] = set()  # components killed on purpose, not to be revived
        self._started: list[subprocess.Popen] = []  # components this object re-executed

    def down(self, log=print) -> None:
        """Stop the cluster. The components this object restarted are SIGKILLed first: kwokctl's
        delete only signals them politely, and an API server whose etcd is gone may not stop,
        holding its port for the next cluster that picks the same one."""
        for proc in self._started:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self._started.clear()
        if (self._home / "pids").is_dir():
            for name in self.COMPONENTS:
                with contextlib.suppress(OSError, ValueError):
                    pid = self.pid(name)
                    if _alive(pid):
                        os.kill(pid, signal.SIGKILL)
        super().down(log=log)

    def kwokctl(self, *args: str, check: bool = True, capture: bool = True):
        if args[:2] == ("create", "cluster"):
            args = tuple(a for a in args if a != "--disable-qps-limits")
        return super().kwokctl(*args, check=check, capture=capture)

    # -- components ---------------------------------------------------------------------------
    @property
    def _home(self) -> Path:
        return self.workdir / "kwok" / "clusters" / self.name

    def _component(self, name: str) -> dict:
        for doc in yaml.safe_load_all((self._home / "kwok.yaml").read_text()):
            for c in (doc or {}).get("components") or []:
                if c["name"] == name:
                    return c
        raise KeyError(name)

    def pid(self, component: str) -> int:
        return int((self._home / "pids" / f"{component}.pid").read_text().strip())

    def signal(self, component: str, sig: signal.Signals) -> None:
        os.kill(self.pid(component), sig)

    def kill(self, component: str) -> None:
        """SIGKILL the component and wait until it is gone."""
        pid = self.pid(component)
        self._down.add(component)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def start(self, component: str) -> int:
        """Re-execute the component exactly as kwokctl started it (its log appended); its pid is
        recorded where kwokctl looks for it."""
        c = self._component(component)
        self._down.discard(component)
        log = open(self._home / "logs" / f"{component}.log", "ab")
        try:
            proc = subprocess.Popen(
                [c["binary"], *c.get("args", [])],
                cwd=c.get("workDir") or str(self._home),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self._started.append(proc)
        (self._home / "pids" / f"{component}.pid").write_text(f"{proc.pid}\n")
        return proc.pid

    COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok-controller")

    def revive(self) -> list[str]:
        """Restart the components that exited by themselves (not killed on purpose): what the
        kubelet does for a real control plane's static pods. kube-controller-manager and
        kube-scheduler exit when they cannot renew their leader Lease for 10 s (an API server
        down or frozen that long). Returns the restarted ones."""
        revived = []
        for name in self.COMPONENTS:
            if name not in self._down and not _alive(self.pid(name)):
                self.start(name)
                revived.append(name)
        return revived

    @contextlib.contextmanager
    def supervised(self, log=print) -> Iterator[None]:
        """For the block, a thread revives exited components every half second."""
        import threading

        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(0.5):
                try:
                    for name in self.revive():
                        log(f"revived {name} (it exited)")
                except (OSError, KeyError, ValueError) as e:
                    log(f"could not revive a component: {e}")

        thread = threading.Thread(target=loop, name="chaos-supervisor", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    @contextlib.contextmanager
    def frozen(self, component: str) -> Iterator[None]:
        """SIGSTOP the component for the block, SIGCONT after (also when the block fails)."""
        self.signal(component, signal.SIGSTOP)
        try:
            yield
        finally:
            self.signal(component, signal.SIGCONT)

    def wait_ready(self, timeout: float = 120.0) -> float:
        """Wait until the API server answers /readyz; returns the seconds waited."""
        t0 = time.monotonic()
        while not self.healthy():
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"kube-apiserver of {self.name} not ready after {timeout}s")
            time.sleep(0.2)
        return time.monotonic() - t0

    # -- etcd ---------------------------------------------------------------------------------
    def _etcd_url(self) -> str:
        c = self._component("etcd")
        port = next(p["port"] for p in c["ports"] if p["name"] == "http")
        return f"http://127.0.0.1:{port}"

    def _etcd(self, path: str, body: dict) -> dict:
        req = urllib.request.Request(
            self._etcd_url() + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")

    def etcd_revision(self) -> int:
        key = base64.b64encode(b"/registry/").decode()
        return int(self._etcd("/v3/kv/range", {"key": key, "limit": 1, "keys_only": True})["header"]["revision"])

    def compact(self) -> int:
        """Compact etcd's history up to its current revision (physically): every older revision
        is gone, as after the API server's periodic compaction. Returns that revision."""
        rev = self.etcd_revision()
        self._etcd("/v3/kv/compaction", {"revision": rev, "physical": True})
        return rev

    # -- identities ---------------------------------------------------------------------------
    def user_kubeconfig(self, namespace: str, account: str, path: Path, cluster_role: str = "cluster-admin") -> Path:
        """A ServiceAccount ``namespace/account`` bound to ``cluster_role`` and a kubeconfig with
        a token of it at ``path``: an identity of its own (not system:masters, so API Priority
        and Fairness does not exempt it)."""
        self.kubectl("create", "namespace", namespace, check=False)
        self.kubectl("create", "serviceaccount", "-n", namespace, account, check=False)
        self.kubectl(
            "create",
            "clusterrolebinding",
            f"{namespace}-{account}",
            f"--clusterrole={cluster_role}",
            f"--serviceaccount={namespace}:{account}",
            check=False,
        )
        token = self.kubectl("create", "token", "-n", namespace, account, "--duration=24h").stdout.strip()
        admin = yaml.safe_load(self.kubeconfig.read_text())
        cluster = admin["clusters"][0]
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [cluster],
            "users": [{"name": account, "user": {"token": token}}],
            "contexts": [{"name": account, "context": {"cluster": cluster["name"], "user": account}}],
            "current-context": account,
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a killed child of ours stays a zombie until reaped; kwokctl's are not ours
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return False
