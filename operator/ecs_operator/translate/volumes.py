"""Task volumes, mount points, tmpfs / shared memory and ``volumesFrom`` -> pod volumes and
volume mounts, plus the PersistentVolumeClaims EFS volumes reference (pure)."""

from __future__ import annotations

import posixpath
import re
from typing import Any

from ..models.generated import (
    ContainerDefinition,
    DockerVolumeConfiguration,
    EFSVolumeConfiguration,
    LinuxParameters,
    Volume,
)
from . import names
from .annotations import MANAGED_BY, MANAGED_BY_LABEL, PREFIX
from .context import TaskContext
from .diagnostics import TranslationError

EFS_STORAGE_CLASS = "efs-sc"
EFS_PLACEHOLDER_SIZE = "5Gi"


class TaskVolumes:
    """The pod's volumes (task volumes first, then each container's tmpfs and shared memory)
    and the containers' mounts of them."""

    def __init__(self, ctx: TaskContext) -> None:
        self.ctx = ctx
        self.volumes: list[dict[str, Any]] = []
        self.volume_names: dict[str, str] = {}  # ECS volume name -> Kubernetes volume name
        self.taken_names: set[str] = set()

    def add(self, base: str, source: str, body: dict[str, Any]) -> str:
        name = names.unique_label(names.dns_label(base, fallback="vol"), source, self.taken_names)
        self.volumes.append({"name": name, **body})
        return name

    # -- task volumes ----------------------------------------------------------------------------

    def translate_task_volumes(self) -> None:
        for i, v in enumerate(self.ctx.td.volumes or []):
            if not v.name:
                raise TranslationError(f"volumes[{i}].name", "a volume needs a name")
            if v.name in self.volume_names:
                raise TranslationError(f"volumes[{v.name}].name", f"two volumes are named {v.name!r}")
            body = self._volume_body(v, v.name)
            base = names.dns_label(v.name.replace("_", "-"), fallback="vol")
            self.volume_names[v.name] = self.add(base, v.name, body)

    def _volume_body(self, v: Volume, name: str) -> dict[str, Any]:
        field = f"volumes[{name}]"
        if v.fsxWindowsFileServerVolumeConfiguration is not None:
            raise TranslationError(
                field + ".fsxWindowsFileServerVolumeConfiguration",
                "FSx for Windows File Server volumes cannot be mounted by Kubernetes "
                "on Linux nodes; use a PersistentVolumeClaim-backed volume instead",
            )
        if v.configuredAtLaunch:
            claim = names.dns_label(name.replace("_", "-"), fallback="vol")
            self.ctx.warn(
                field + ".configuredAtLaunch",
                f"the volume is configured at launch: PersistentVolumeClaim {claim!r} must be "
                "supplied in the namespace",
            )
            return {"persistentVolumeClaim": {"claimName": claim}}
        if v.efsVolumeConfiguration is not None:
            return self._efs(field + ".efsVolumeConfiguration", v.efsVolumeConfiguration)
        if v.s3filesVolumeConfiguration is not None:
            s3 = v.s3filesVolumeConfiguration
            claim = names.s3files_claim_name(s3.fileSystemArn, s3.rootDirectory)
            self.ctx.warn(
                field + ".s3filesVolumeConfiguration",
                f"Kubernetes has no S3 Files volume: PersistentVolumeClaim {claim!r} bound to "
                f"{s3.fileSystemArn} must be supplied in the namespace",
            )
            return {"persistentVolumeClaim": {"claimName": claim}}
        if v.dockerVolumeConfiguration is not None:
            return self._docker_volume(field + ".dockerVolumeConfiguration", v.dockerVolumeConfiguration)
        if v.host is not None and v.host.sourcePath:
            path = v.host.sourcePath
            if ".." in re.split(r"[/\\]", path):
                raise TranslationError(field + ".host.sourcePath", f"{path!r} must not contain '..'")
            return {"hostPath": {"path": path, "type": ""}}
        return {"emptyDir": {}}

    def _docker_volume(self, field: str, dv: DockerVolumeConfiguration) -> dict[str, Any]:
        driver = dv.driver or "local"
        opts = dict(dv.driverOpts or {})
        if dv.scope == "shared" or dv.autoprovision:
            self.ctx.warn(
                field + ".scope",
                "a shared Docker volume outlives the task; an emptyDir is per pod "
                "(use a PersistentVolumeClaim to keep data)",
            )
        if driver != "local":
            self.ctx.warn(field + ".driver", f"Docker volume driver {driver!r} is not available: emptyDir used")
            return {"emptyDir": {}}
        kind = opts.pop("type", "").lower()
        body: dict[str, Any] = {"emptyDir": {}}
        if kind == "tmpfs":
            opts.pop("device", None)
            body = {"emptyDir": {"medium": "Memory"}}
        elif kind in ("nfs", "nfs4") and "device" in opts:
            nfs = self._nfs(field, opts.pop("o", ""), opts.pop("device"))
            if nfs is not None:
                return nfs
        elif kind:
            opts["type"] = kind
        if opts:
            self.ctx.warn(field + ".driverOpts", f"driver options {sorted(opts)} are not expressible: emptyDir used")
        return body

    def _nfs(self, field: str, options: str, device: str) -> dict[str, Any] | None:
        """A local-driver NFS volume (``type=nfs``, ``device=server:/path``, ``o=addr=...``);
        None (warned) when it has no server or no absolute path."""
        addr = next((p.split("=", 1)[1] for p in options.split(",") if p.startswith("addr=")), "")
        server, _, path = device.partition(":")
        server = server or addr
        if not (server and path.startswith("/")):
            self.ctx.warn(
                field + ".driverOpts", f"NFS device {device!r} has no server and absolute path: emptyDir used"
            )
            return None
        nfs: dict[str, Any] = {"server": server, "path": path}
        if any(p == "ro" for p in options.split(",")):
            nfs["readOnly"] = True
        if [p for p in options.split(",") if p and not p.startswith("addr=") and p not in ("ro", "rw")]:
            self.ctx.warn(field + ".driverOpts", f"NFS mount options {options!r} are set by the node, not the pod")
        return {"nfs": nfs}

    def _efs(self, field: str, efs: EFSVolumeConfiguration) -> dict[str, Any]:
        claim = names.efs_claim_name(efs.fileSystemId, efs.rootDirectory)
        annotations = {PREFIX + "efs-file-system-id": efs.fileSystemId}
        root = efs.rootDirectory or "/"
        annotations[PREFIX + "efs-root-directory"] = root
        auth = efs.authorizationConfig
        ap = auth.accessPointId if auth else None
        # The EFS CSI driver's volumeHandle for a static PersistentVolume of this volume.
        handle = efs.fileSystemId + (f":{root}" if root != "/" or ap else "") + (f":{ap}" if ap else "")
        annotations[PREFIX + "efs-volume-handle"] = handle
        extra = []
        if efs.transitEncryption is not None:
            annotations[PREFIX + "efs-transit-encryption"] = efs.transitEncryption
            extra.append("transitEncryption")
        if efs.transitEncryptionPort is not None:
            annotations[PREFIX + "efs-transit-encryption-port"] = str(efs.transitEncryptionPort)
            extra.append("transitEncryptionPort")
        if auth is not None:
            if auth.accessPointId:
                annotations[PREFIX + "efs-access-point-id"] = auth.accessPointId
            if auth.iam:
                annotations[PREFIX + "efs-iam"] = auth.iam
            extra.append("authorizationConfig")
        if extra:
            self.ctx.warn(
                field,
                f"{', '.join(extra)} kept as annotations of PersistentVolumeClaim {claim!r}: "
                f"the StorageClass {EFS_STORAGE_CLASS!r} or a static PersistentVolume must apply them",
            )
        self._add_claim(claim, annotations)
        return {"persistentVolumeClaim": {"claimName": claim}}

    def _add_claim(self, claim: str, annotations: dict[str, str]) -> None:
        objects = self.ctx.objects
        if any(o["metadata"]["name"] == claim and o["kind"] == "PersistentVolumeClaim" for o in objects):
            return
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": claim, "labels": {MANAGED_BY_LABEL: MANAGED_BY}, "annotations": annotations},
                "spec": {
                    "accessModes": ["ReadWriteMany"],
                    "storageClassName": EFS_STORAGE_CLASS,
                    "resources": {"requests": {"storage": EFS_PLACEHOLDER_SIZE}},
                },
            }
        )

    # -- mounts ----------------------------------------------------------------------------------

    def mount_points(self, cd: ContainerDefinition) -> list[dict[str, Any]]:
        """The container's mountPoints as volume mounts."""
        mounts: list[dict[str, Any]] = []
        for j, mp in enumerate(cd.mountPoints or []):
            field = self.ctx.cpath(cd, f"mountPoints[{j}]")
            if not mp.sourceVolume:
                raise TranslationError(field + ".sourceVolume", "a mount point needs a sourceVolume")
            if mp.sourceVolume not in self.volume_names:
                raise TranslationError(
                    field + ".sourceVolume", f"names no volume of this task definition: {mp.sourceVolume!r}"
                )
            if not mp.containerPath:
                raise TranslationError(field + ".containerPath", "a mount point needs a containerPath")
            m: dict[str, Any] = {"name": self.volume_names[mp.sourceVolume], "mountPath": mp.containerPath}
            if mp.readOnly:
                m["readOnly"] = True
            mounts.append(m)
        return mounts

    def container_mounts(self, name: str, cd: ContainerDefinition) -> list[dict[str, Any]]:
        """mountPoints, then the container's own memory-backed volumes (shared memory, tmpfs)."""
        mounts = self.mount_points(cd)
        if cd.linuxParameters is not None:
            mounts += self._memory_mounts(name, cd, cd.linuxParameters)
        self._check_mount_paths(cd, mounts)
        return mounts

    def _memory_mounts(self, name: str, cd: ContainerDefinition, lp: LinuxParameters) -> list[dict[str, Any]]:
        mounts: list[dict[str, Any]] = []
        k8s_name = self.ctx.k8s_names[name]
        if lp.sharedMemorySize is not None:
            if lp.sharedMemorySize <= 0:
                raise TranslationError(
                    self.ctx.cpath(cd, "linuxParameters.sharedMemorySize"),
                    f"{lp.sharedMemorySize} MiB must be greater than zero",
                )
            vname = self.add(
                f"shm-{k8s_name}",
                f"{name}/shm",
                {"emptyDir": {"medium": "Memory", "sizeLimit": f"{lp.sharedMemorySize}Mi"}},
            )
            mounts.append({"name": vname, "mountPath": "/dev/shm"})
        for j, t in enumerate(lp.tmpfs or []):
            field = self.ctx.cpath(cd, f"linuxParameters.tmpfs[{j}]")
            if t.size <= 0:
                raise TranslationError(field + ".size", f"{t.size} MiB must be greater than zero")
            if not t.containerPath:
                raise TranslationError(field + ".containerPath", "a tmpfs mount needs a containerPath")
            if t.mountOptions:
                self.ctx.warn(
                    field + ".mountOptions",
                    f"mount options {t.mountOptions} are not expressible (emptyDir medium Memory)",
                )
            vname = self.add(
                f"tmpfs-{k8s_name}-{j}",
                f"{name}/tmpfs/{j}",
                {"emptyDir": {"medium": "Memory", "sizeLimit": f"{t.size}Mi"}},
            )
            mounts.append({"name": vname, "mountPath": t.containerPath})
        return mounts

    def _check_mount_paths(self, cd: ContainerDefinition, mounts: list[dict[str, Any]]) -> None:
        seen: set[str] = set()
        for m in mounts:
            p = posixpath.normpath(m["mountPath"]) if m["mountPath"].startswith("/") else m["mountPath"]
            if p in seen:
                raise TranslationError(
                    self.ctx.cpath(cd, "mountPoints"),
                    f"two mounts at {m['mountPath']!r} (mountPoints, tmpfs, sharedMemorySize)",
                )
            seen.add(p)

    def copy_volumes_from(self, built: dict[str, dict[str, Any]]) -> None:
        """Copy the source containers' mount points (recursively, as Docker's --volumes-from)
        into the built containers."""
        for name, cd in self.ctx.by_name.items():
            if not cd.volumesFrom:
                continue
            k = built[name]
            own = k.get("volumeMounts", [])
            paths = {posixpath.normpath(m["mountPath"]) for m in own}
            added = []
            for m in self._mounts_with_sources(name, (name,))[len(self.mount_points(cd)) :]:
                p = posixpath.normpath(m["mountPath"])
                if p in paths:  # the container's own mount at that path takes precedence
                    continue
                paths.add(p)
                added.append(m)
            if added:
                k["volumeMounts"] = own + added
            self.ctx.warn(
                self.ctx.cpath(cd, "volumesFrom"),
                "mount points of the source containers are copied; anonymous volumes declared by "
                "their images (Dockerfile VOLUME) are not shared",
            )

    def _mounts_with_sources(self, name: str, chain: tuple[str, ...]) -> list[dict[str, Any]]:
        """Container ``name``'s mount points followed by those of its volumesFrom sources."""
        cd = self.ctx.by_name[name]
        result = list(self.mount_points(cd))
        for vf in cd.volumesFrom or []:
            field = self.ctx.cpath(cd, "volumesFrom")
            source = vf.sourceContainer
            if not source or source not in self.ctx.by_name:
                raise TranslationError(field, f"names no container of this task: {source!r}")
            if source == name or source in chain:
                raise TranslationError(field, "volumesFrom cycle: " + " -> ".join(chain + (source,)))
            for m in self._mounts_with_sources(source, chain + (source,)):
                m = dict(m)
                if vf.readOnly:
                    m["readOnly"] = True
                result.append(m)
        return result
