"""Where a container's files are: a private mount namespace, or path rewriting as a fallback.

`Isolation.NAMESPACE` (root, Linux): each container process starts through the enter helper
(`_enter.c` built once by `build_enter_helper`, else its Python twin `_enter.py`), which
unshares its mount namespace with private propagation and bind-mounts, shallow to deep, a
private `/tmp` (the container's own, as an image's root filesystem would give it) and then every
`volumeMount` (with `subPath`/`subPathExpr`, `readOnly`). Two pods writing `/tmp/out.txt` write
two different files; everything else of the host's tree stays visible, since there is no image.
A container that mirrors main's mounts under `/mainctrfs` (Argo's wait and init) gets a private,
fresh `/mainctrfs` too, so its mount points (a file for an input artifact's `subPath`, a directory
for the whole artifact) never meet another pod's left on the host.
Mount points the host lacks are made by the agent's `MountPoints` (mountpoints.py): only the
first missing component of a path, counted while containers use it and removed after; when it
is an ancestor of the target, the helper mounts a private tmpfs on it first, so deeper entries
are the container's own and nothing outlives the pod on the host's tree.

`Isolation.REWRITE` (no namespaces: not root, or the probe failed): the agent logs that once and
maps mount paths instead. Every argv element, env value and `workingDir` that names a path at or
under a `mountPath` is rewritten to the host directory behind it (longest mount first, also
inside shell strings like `echo x > /data/out`), and the executor's path variables
(`ARGO_VAR_RUN`, `ARGO_STAGING_DIR`, `ARGO_INPUTS_DIR`, `ARGO_CONFIG_DIR`, `ARGO_SECRETS_DIR`,
`ARGO_MAINCTRFS`) point at the pod's directories (the per-Secret mounts under `/argo/secret` and
main's mirrored mounts under `/mainctrfs` through one directory of symlinks each). Limits: paths
inside files (the template, scripts, config) and paths a program computes are not rewritten;
there is no private `/tmp` (a template's output path `/tmp/x` and the command writing it must
agree, and only one of them can be rewritten), so concurrent pods share the host's `/tmp`;
read-only mounts are writable. A missing `workingDir` outside every mount is mapped like one, to
a directory of the pod's: nothing is created on the host's tree.
"""
from __future__ import annotations

import enum
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import msgspec

from .errors import ContainerConfigError
from .mountpoints import TMPFS
from .volumes import safe_relative

__all__ = ["Isolation", "Mount", "Launch", "probe_isolation", "container_mounts", "with_private_dirs", "launch_spec",
           "expand_vars", "ENTER_SCRIPT", "PYTHON_HELPER", "build_enter_helper"]

ENTER_SCRIPT = str(Path(__file__).with_name("_enter.py"))
ENTER_SOURCE = Path(__file__).with_name("_enter.c")
PYTHON_HELPER: tuple[str, ...] = (sys.executable, "-I", "-S", ENTER_SCRIPT)
_EXECUTOR_DIRS = {"/var/run/argo": "ARGO_VAR_RUN", "/argo/staging": "ARGO_STAGING_DIR",
                  "/argo/inputs/artifacts": "ARGO_INPUTS_DIR", "/argo/config": "ARGO_CONFIG_DIR",
                  "/argo/secret": "ARGO_SECRETS_DIR"}
_SECRET_ROOT = "/argo/secret"  # the executor's artifact credentials, one Secret volume per name below
_MIRROR_ROOT = "/mainctrfs"  # Argo's view of the main container's mounts from wait and init
_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")


class Isolation(enum.StrEnum):
    NAMESPACE = "namespace"
    REWRITE = "rewrite"


class Mount(msgspec.Struct, frozen=True):
    source: str  # host path
    target: str  # container path
    read_only: bool = False


class Launch(msgspec.Struct, frozen=True):
    """What to spawn: argv, complete environment, host working directory (None: set by `_enter`)."""

    argv: list[str]
    env: dict[str, str]
    cwd: str | None
    uses_errfd: bool


def build_enter_helper(cache_dir: Path, /, *, cc: str | None = None) -> tuple[str, ...] | None:
    """The C enter helper, compiled into `cache_dir/enter` once (again when `_enter.c` is newer);
    None when there is no C compiler or the build fails (the Python helper is used then)."""
    out = cache_dir / "enter"
    if out.is_file() and out.stat().st_mtime >= ENTER_SOURCE.stat().st_mtime:
        return (str(out),)
    compiler = shutil.which(cc or os.environ.get("CC") or "cc")
    if compiler is None:
        return None
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".enter.{os.getpid()}.building"
    proc = subprocess.run([compiler, "-O2", "-Wall", "-o", str(tmp), str(ENTER_SOURCE)], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        return None
    tmp.replace(out)  # atomic: a concurrent agent never runs a half-written binary
    return (str(out),)


def probe_isolation(helper: Sequence[str] = PYTHON_HELPER) -> tuple[Isolation, str]:
    """Can this process give children private mount namespaces? (mode, reason when not)."""
    if not sys.platform.startswith("linux"):
        return Isolation.REWRITE, f"mount namespaces are Linux-only (platform {sys.platform})"
    if os.geteuid() != 0:
        return Isolation.REWRITE, "mount namespaces need root (CAP_SYS_ADMIN)"
    r, w = os.pipe()
    try:
        proc = subprocess.run([*helper, str(w), "", "probe", "/", "0", "--", "true"], pass_fds=(w,),
                              capture_output=True, timeout=30, check=False)
        os.close(w)
        w = -1
        err = os.read(r, 4096).decode(errors="replace")
    except (OSError, subprocess.SubprocessError) as exc:
        return Isolation.REWRITE, f"probe failed: {exc}"
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
    if proc.returncode != 0 or err:
        return Isolation.REWRITE, err or f"probe exited {proc.returncode}"
    return Isolation.NAMESPACE, ""


def expand_vars(text: str, env: Mapping[str, str], /) -> str:
    """Kubernetes' `$(VAR)` expansion: defined names are replaced, `$$` is `$`, the rest is kept."""
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)
    return _VAR_REF.sub(sub, text)


def _clean_target(path: Any, where: str) -> str:
    if not isinstance(path, str) or not path.startswith("/"):
        raise ContainerConfigError(where, f"mountPath must be absolute, got {path!r}")
    p = PurePosixPath(os.path.normpath(path))
    if ".." in PurePosixPath(path).parts:
        raise ContainerConfigError(where, f"mountPath {path!r} must not contain '..'")
    return str(p)


def container_mounts(container: Mapping[str, Any], volumes: Mapping[str, Path], /, *, env: Mapping[str, str],
                     tmp_dir: Path | None, where: str, keep_visible: Sequence[Path] = ()) -> list[Mount]:
    """The container's mounts as host -> container paths, shallow to deep (stable).

    `keep_visible` are host paths the agent's own programs need (the wrapper binary, the Python
    installation): one that a mount would hide (a root_dir under the host's /tmp) is bound back
    onto itself after that mount.
    """
    mounts: list[Mount] = []
    if tmp_dir is not None:
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp_dir.chmod(0o1777)
        mounts.append(Mount(str(tmp_dir), "/tmp"))  # noqa: S108 - the container's own /tmp
        # /mnt too: an image's /mnt is empty and the container's own; steps write outputs there
        # (Argo's map-reduce example), and without this they would write into the host's /mnt
        mnt_dir = tmp_dir.with_name(tmp_dir.name + "-mnt")
        mnt_dir.mkdir(parents=True, exist_ok=True)
        mounts.append(Mount(str(mnt_dir), "/mnt"))
    for i, vm in enumerate(container.get("volumeMounts") or ()):
        at = f"{where}.volumeMounts[{i}]"
        name = vm.get("name")
        if name not in volumes:
            raise ContainerConfigError(at, f"volume {name!r} is not defined in the pod")
        source = volumes[name]
        sub = vm.get("subPath") or ""
        if vm.get("subPathExpr"):
            sub = expand_vars(str(vm["subPathExpr"]), env)
        if sub:
            source = source.joinpath(*safe_relative(sub, where=f"{at}.subPath").parts)
            if not source.exists():
                source.mkdir(parents=True)  # kubelet creates a missing subPath as a directory
        mounts.append(Mount(str(source), _clean_target(vm.get("mountPath"), f"{at}.mountPath"),
                            bool(vm.get("readOnly"))))
    if tmp_dir is not None and any(m.target.startswith(_MIRROR_ROOT + "/") for m in mounts):
        # Argo mirrors main's mounts under /mainctrfs in the wait and init containers, where they
        # are mount points in that container's own root filesystem. Made on the host's tree they
        # would outlive the pod, and a later pod mirroring a file where one left a directory (an
        # input artifact with `subPath` after the whole directory) could not bind it: ENOTDIR.
        mirror = tmp_dir.with_name(tmp_dir.name + "-mainctrfs")
        if mirror.exists():  # a fresh tree per container start, as a fresh root filesystem would be
            shutil.rmtree(mirror)
        mirror.mkdir(parents=True)
        mounts.append(Mount(str(mirror), _MIRROR_ROOT))
    for keep in keep_visible:
        path = PurePosixPath(os.path.normpath(keep))
        if any(PurePosixPath(m.target) == path or PurePosixPath(m.target) in path.parents for m in mounts):
            mounts.append(Mount(str(path), str(path)))
    # sorted() is stable: equal depths keep their declared order
    return sorted(mounts, key=lambda m: len(PurePosixPath(m.target).parts))


def with_private_dirs(mounts: list[Mount], tmpfs: Sequence[str], /) -> list[Mount]:
    """`mounts` plus a private tmpfs at each of `tmpfs` (the anchors of `MountPoints.plan`), each
    before the binds it holds, shallow to deep."""
    private = [Mount(TMPFS, path) for path in tmpfs]
    return sorted([*private, *mounts], key=lambda m: len(PurePosixPath(m.target).parts))


def _rewriter(mounts: list[Mount]) -> Any:
    ordered = sorted(mounts, key=lambda m: len(m.target), reverse=True)
    if not ordered:
        return lambda s: s
    pattern = re.compile(r"(?<![\w./-])(" + "|".join(re.escape(m.target) for m in ordered) + r")(?=$|[/\s'\";:=)&|>])")
    table = {m.target: m.source for m in ordered}
    return lambda s: pattern.sub(lambda m: table[m.group(1)], s)


def launch_spec(isolation: Isolation, argv: list[str], env: dict[str, str], /, *, cwd: str | None,
                mounts: list[Mount], view_dir: Path, errfd: int | None, cgroup_procs: str | None = None,
                hostname: str = "", helper: Sequence[str] = PYTHON_HELPER) -> Launch:
    """How to spawn the container: through the enter helper, or directly with rewritten paths."""
    workdir = cwd or "/"
    if isolation is Isolation.NAMESPACE:
        if errfd is None:
            raise ValueError("launch_spec: namespace isolation needs an error pipe")
        triples = [x for m in mounts for x in (m.source, m.target, "1" if m.read_only else "0")]
        return Launch([*helper, str(errfd), cgroup_procs or "", hostname, workdir, str(len(mounts)), *triples, "--",
                       *argv], env, None, True)
    mounts = [m for m in mounts if m.target not in ("/tmp", "/mnt")]  # noqa: S108 - see the module docstring
    if _rewriter(mounts)(workdir) == workdir and not os.path.isdir(workdir):
        # a missing workingDir outside every mount: a directory of the pod's, never one made on
        # the host's tree (mapped like a mount, so paths under it in the command follow it)
        mounts = [*mounts, Mount(str(view_dir / "workdir"), os.path.normpath(workdir))]
    rewrite = _rewriter(mounts)
    new_env = {k: rewrite(v) for k, v in env.items()}
    for target, var in _EXECUTOR_DIRS.items():
        hit = next((m for m in mounts if m.target == target), None)
        if hit is not None:
            new_env[var] = hit.source
    mirrored = [m for m in mounts if m.target.startswith("/mainctrfs/")]
    if mirrored:
        # one directory the executor can treat as /mainctrfs: symlinks to each mirrored volume
        root = view_dir / "mainctrfs"
        for m in mirrored:
            link = root.joinpath(*PurePosixPath(m.target).parts[2:])
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(m.source)
        new_env["ARGO_MAINCTRFS"] = str(root)
    secrets = [m for m in mounts if m.target.startswith(_SECRET_ROOT + "/")]
    if secrets:
        # artifact Secrets are one volume each at /argo/secret/<name>: one directory of symlinks
        # the executor reads as /argo/secret (a mount of all of /argo/secret maps it directly)
        root = view_dir / "secret"
        for m in secrets:
            link = root.joinpath(*PurePosixPath(m.target).parts[3:])
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(m.source)
        new_env["ARGO_SECRETS_DIR"] = str(root)
    host_cwd = rewrite(workdir)
    Path(host_cwd).mkdir(parents=True, exist_ok=True)
    return Launch([rewrite(a) for a in argv], new_env, host_cwd, False)
