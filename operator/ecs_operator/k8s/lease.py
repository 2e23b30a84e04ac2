"""Leader election's I/O: reading and writing one coordination.k8s.io/v1 Lease.

What to write is decided purely (``plans.leadership``); this module reads the Lease, writes what
was decided with the read ``resourceVersion`` as a precondition (a 409 means another candidate
wrote first: it won this round), and runs the two loops a candidate has: waiting until it leads,
then renewing until it stops or loses. Its requests have short timeouts of their own (never
kopf's): a renewal that hangs must not outlive the renew deadline.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import kubernetes
import urllib3
from kubernetes.client.exceptions import ApiException

from .. import FIELD_MANAGER, metrics
from ..plans import leadership
from ..plans.leadership import Action, Record, Seen, Timing

logger = logging.getLogger("ecs_operator.leader")

_API = "/apis/coordination.k8s.io/v1"


class LeaseLock:
    """One Lease (``namespace``/``name``) as seen by the candidate ``identity``."""

    def __init__(self, namespace: str, name: str, identity: str, timing: Timing):
        from . import _load_configuration

        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.timing = timing
        self._api = kubernetes.client.ApiClient(_load_configuration())
        # Connect and read timeouts: a round never takes longer than about one retry period.
        self._timeout = (timing.retry_period, timing.retry_period)
        self._seen: Seen | None = None

    def _request(self, method: str, url: str, body: Any = None) -> dict[str, Any] | None:
        """One request; None on 404 and 409 (not there / someone else wrote first). Other errors
        raise (``OSError`` family or ``ApiException``): the round failed."""
        code = "<error>"
        start = time.perf_counter()
        try:
            resp = self._api.call_api(
                url,
                method,
                query_params=[("fieldManager", FIELD_MANAGER)] if method in ("POST", "PUT") else [],
                body=body,
                header_params={"Content-Type": "application/json", "Accept": "application/json"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _preload_content=False,
                _request_timeout=self._timeout,
            )
            code = str(getattr(resp, "status", None) or 200)
        except ApiException as e:
            code = str(e.status or 0)
            if e.status in (404, 409):
                return None
            raise
        finally:
            metrics.api_request("lease", code, time.perf_counter() - start)
        return json.loads(resp.data) if resp.data else {}

    def _url(self, named: bool = True) -> str:
        base = f"{_API}/namespaces/{self.namespace}/leases"
        return f"{base}/{self.name}" if named else base

    @property
    def holder_seen(self) -> str:
        """The holder of the Lease as this candidate last saw it waiting ("" if none)."""
        return self._seen.record.holder if self._seen is not None else ""

    def read(self) -> dict[str, Any] | None:
        return self._request("GET", self._url())

    def round(self) -> bool:
        """Read the Lease, decide, write. True: this candidate holds the Lease now."""
        lease = self.read()
        record = Record.from_spec(lease.get("spec")) if lease is not None else None
        decision = leadership.decide(
            record, self.identity, now=time.monotonic(), wall=datetime.now(UTC), seen=self._seen, timing=self.timing
        )
        self._seen = decision.seen
        if decision.action is Action.WAIT or decision.spec is None:
            return False
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if lease is None:
            written = self._request("POST", self._url(named=False), self._body(metadata, decision.spec))
        else:
            metadata["resourceVersion"] = lease["metadata"]["resourceVersion"]
            written = self._request("PUT", self._url(), self._body(metadata, decision.spec))
        if written is None:
            return False  # 409 (another candidate wrote first) or gone meanwhile: next round
        if decision.action is not Action.RENEW:
            logger.info(
                "became the leader (Lease %s/%s, previous holder %r)",
                self.namespace,
                self.name,
                record.holder if record else "",
            )
        return True

    def release(self) -> bool:
        """Give the Lease up if this candidate holds it (a clean stop): a standby takes it at its
        next round. True when released."""
        lease = self.read()
        if lease is None:
            return False
        record = Record.from_spec(lease.get("spec"))
        if record.holder != self.identity:
            return False
        metadata = {
            "name": self.name,
            "namespace": self.namespace,
            "resourceVersion": lease["metadata"]["resourceVersion"],
        }
        done = self._request("PUT", self._url(), self._body(metadata, leadership.released(record, datetime.now(UTC))))
        return done is not None

    @staticmethod
    def _body(metadata: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}


class Elector:
    """A candidate's two loops. :meth:`wait_to_lead` blocks until this candidate leads (or
    ``stop`` is set); :meth:`keep_leading` renews from a thread every retry period and calls
    ``on_lost`` once if renewals fail for the renew deadline; :meth:`resign` stops renewing and
    releases the Lease."""

    def __init__(self, lock: LeaseLock, on_lost: Callable[[], None]):
        self.lock = lock
        self.timing = lock.timing
        self.on_lost = on_lost
        self._resigned = threading.Event()
        self._renewer: threading.Thread | None = None
        self.last_renewed = 0.0

    def _try(self) -> bool:
        try:
            return self.lock.round()
        except (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError, KeyError) as e:
            logger.warning("leader election: Lease %s/%s unreachable: %s", self.lock.namespace, self.lock.name, e)
            return False

    def wait_to_lead(self, stop: threading.Event) -> bool:
        waiting_logged = False
        while not stop.is_set():
            if self._try():
                self.last_renewed = time.monotonic()
                return True
            if not waiting_logged:
                holder = self.lock.holder_seen or "?"
                logger.info("standby: the Lease %s/%s is held by %s", self.lock.namespace, self.lock.name, holder)
                waiting_logged = True
            stop.wait(self.timing.retry_period)
        return False

    def keep_leading(self) -> None:
        """Renew from one thread; a second one watches the deadline, so a renewal that hangs
        (an API server that stopped answering) still ends the leadership in time."""
        self._renewer = threading.Thread(target=self._renew_loop, name="lease-renewer", daemon=True)
        self._renewer.start()
        threading.Thread(target=self._watchdog, name="lease-watchdog", daemon=True).start()

    def _renew_loop(self) -> None:
        while not self._resigned.wait(self.timing.retry_period):
            if self._try():
                self.last_renewed = time.monotonic()

    def _watchdog(self) -> None:
        while not self._resigned.wait(0.25):
            if leadership.lost(self.last_renewed, time.monotonic(), self.timing):
                if not self._resigned.is_set():
                    logger.error(
                        "lost the Lease %s/%s: not renewed for %.0f s; stopping",
                        self.lock.namespace,
                        self.lock.name,
                        self.timing.renew_deadline,
                    )
                    self.on_lost()
                return

    def resign(self) -> None:
        self._resigned.set()
        if self._renewer is not None:
            self._renewer.join(timeout=self.timing.retry_period * 2)
        try:
            if self.lock.release():
                logger.info("released the Lease %s/%s", self.lock.namespace, self.lock.name)
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as e:
            logger.warning("could not release the Lease (it expires by itself): %s", e)
