"""Images without pulling: which host program stands in for a container image.

The agent runs containers as host processes, so an image is only a name that picks a
`HostImage`: its ENTRYPOINT and CMD (which Kubernetes combines with the pod's `command`/`args`),
a table of `programs` that rewrites `argv[0]` (`python3` in a `python:*` image runs the agent's
own interpreter), `tools` the image has on its PATH and the host lacks (built-in stand-ins: each
also rewrites `argv[0]`, and a shell finds it through a shim in a directory put first on PATH,
written by `with_tool_dir`), extra environment, and host programs it `requires`.

Kubernetes' rule (`kuberuntime.ExpandContainerCommandAndArgs`): `command` replaces ENTRYPOINT
and then `args` (or nothing) follow; without `command`, ENTRYPOINT is followed by `args` when
they are given (even empty) and by CMD otherwise. A main container wrapped by Argo's emissary
(`<wrapper> emissary [flags] -- cmd...`) has its program mapped after the `--`, because the
wrapper execs it by name.

Lookup order: the caller's rules, then the executor image, then the defaults
(`busybox*`, `alpine*`, `debian*`, `ubuntu*` run as is; `python:*`; `node:*` when node is
installed; `docker/whalesay*` and `argoproj/argosay:v1`, which was built on it, with
`cowsay`/`cowthink`; `argoproj/argosay:*`), then `fallback`; otherwise `ImageNotMapped`. Patterns are
`fnmatch` globs against the reference with `docker.io/` and `library/` removed, tried both with
and without its tag.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import msgspec

from .errors import ImageNotMapped

__all__ = ["HostImage", "ImageMap", "ResolvedCommand", "normalize_image", "DEFAULT_EXECUTOR_IMAGE"]

DEFAULT_EXECUTOR_IMAGE = "quay.io/tiphys/tiphys:v0.1.0"  # PodSettings.executor_image's default


class HostImage(msgspec.Struct, frozen=True, kw_only=True):
    """What runs for an image on this host."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    # argv[0] (exact, or its basename) -> the argv prefix that replaces it
    programs: dict[str, tuple[str, ...]] = {}
    env: dict[str, str] = {}
    # host programs that must be on PATH for this image to be usable
    requires: tuple[str, ...] = ()
    # programs on the image's PATH the host lacks: name -> the argv of a built-in stand-in
    tools: dict[str, tuple[str, ...]] = {}


class ResolvedCommand(msgspec.Struct, frozen=True):
    argv: list[str]
    env: dict[str, str]
    path: tuple[str, ...] = ()  # directories that go before the host's PATH (the image's tool shims)


def normalize_image(image: str, /) -> str:
    """`docker.io/library/python:3.12` -> `python:3.12` (the digest is kept)."""
    ref = image.strip()
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
            break
    return ref.removeprefix("library/")


def _repository(ref: str) -> str:
    ref = ref.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    return ref[:colon] if colon > slash else ref


_SELF = (sys.executable,)
_SHELL = HostImage(cmd=("sh",))
_PYTHON = HostImage(cmd=("python3",), programs={"python": _SELF, "python3": _SELF})
_ARGOSAY = (sys.executable, "-m", "tiphys.executor.argosay")


def _cowsay(call: str) -> tuple[str, ...]:
    return (sys.executable, "-c", f"from tiphys.executor.cowsay import main; raise SystemExit(main({call}))")


# docker/whalesay (Ubuntu's cowsay, its default cow replaced by the whale) and the images built on it
_WHALESAY_TOOLS = {"cowsay": _cowsay("whalesay=True"), "cowthink": _cowsay("think=True, whalesay=True")}
_ARGOSAY_PROGRAMS = {"/argosay": _ARGOSAY, "argosay": _ARGOSAY}


def _defaults() -> list[tuple[str, HostImage]]:
    return [
        ("busybox*", _SHELL), ("alpine*", _SHELL),
        ("debian*", HostImage(cmd=("bash",))), ("ubuntu*", HostImage(cmd=("bash",))),
        ("python", _PYTHON), ("python:*", _PYTHON),
        ("node", HostImage(cmd=("node",), requires=("node",))),
        ("node:*", HostImage(cmd=("node",), requires=("node",))),
        # as Argo's example controller ConfigMap (`images:`) describes it: `cmd: [cowsay]`
        ("docker/whalesay*", HostImage(cmd=("cowsay",), tools=_WHALESAY_TOOLS)),
        # argosay's ENTRYPOINT is /argosay; both spellings map to the built-in (v2's verbs, for v1
        # too). v1 was built FROM docker/whalesay and so has cowsay on PATH; v2 has not.
        ("argoproj/argosay:v1", HostImage(entrypoint=("/argosay",), programs=_ARGOSAY_PROGRAMS,
                                          tools=_WHALESAY_TOOLS)),
        ("argoproj/argosay:v1@*", HostImage(entrypoint=("/argosay",), programs=_ARGOSAY_PROGRAMS,
                                            tools=_WHALESAY_TOOLS)),
        ("argoproj/argosay*", HostImage(entrypoint=("/argosay",), programs=_ARGOSAY_PROGRAMS)),
    ]


def _executor(env: Mapping[str, str]) -> HostImage:
    exe = (sys.executable, "-m", "tiphys.executor")
    return HostImage(entrypoint=("tiphys-executor",), programs={"tiphys-executor": exe, "argoexec": exe},
                     env=dict(env))


class ImageMap:
    """Image name -> `HostImage`, and the argv/env a container runs with."""

    def __init__(self, rules: Sequence[tuple[str, HostImage]] = (), /, *,
                 executor_image: str = DEFAULT_EXECUTOR_IMAGE, executor_env: Mapping[str, str] | None = None,
                 defaults: bool = True, fallback: HostImage | None = None) -> None:
        for i, rule in enumerate(rules):
            if not (isinstance(rule, tuple) and len(rule) == 2 and isinstance(rule[0], str)
                    and isinstance(rule[1], HostImage)):
                raise TypeError(f"ImageMap rules[{i}]: expected (pattern, HostImage), got {rule!r}")
        self.executor_image = executor_image
        self._rules = list(rules)
        self._executor = _executor(executor_env or {})
        self._defaults = _defaults() if defaults else []
        self._fallback = fallback
        self._tool_dir: Path | None = None

    def with_executor_env(self, env: Mapping[str, str], /) -> ImageMap:
        """A copy whose executor image also gets `env` (the agent adds the wrapper location)."""
        out = ImageMap.__new__(ImageMap)
        out.__dict__.update(self.__dict__)
        out._executor = _executor({**self._executor.env, **env})
        return out

    def with_tool_dir(self, directory: Path, /) -> ImageMap:
        """A copy that writes, under `directory`, a PATH directory of shims for each image's `tools`
        (the agent calls it once at start; the shims exec the stand-ins)."""
        out = ImageMap.__new__(ImageMap)
        out.__dict__.update(self.__dict__)
        out._tool_dir = directory
        hosts = [h for _, h in (*self._rules, *self._defaults)] + ([self._fallback] if self._fallback else [])
        for host in hosts:
            if host.tools:
                _write_shims(directory / _tools_key(host.tools), host.tools)
        return out

    def is_executor(self, image: str, /) -> bool:
        return image == self.executor_image or normalize_image(image) == normalize_image(self.executor_image)

    def lookup(self, image: str, /, *, where: str = "") -> HostImage:
        if not isinstance(image, str) or not image.strip():
            raise ImageNotMapped(where, repr(image), "the container has no image")
        if self.is_executor(image):
            return self._executor
        ref = normalize_image(image)
        repo = _repository(ref)
        for pattern, host in (*self._rules, *self._defaults):
            if fnmatch.fnmatchcase(ref, pattern) or fnmatch.fnmatchcase(repo, pattern):
                missing = [p for p in host.requires if shutil.which(p) is None]
                if missing:
                    raise ImageNotMapped(where, image, f"{', '.join(missing)} is not installed on this host")
                return host
        if self._fallback is not None:
            return self._fallback
        raise ImageNotMapped(where, image)

    def resolve(self, image: str, command: Sequence[str] | None, args: Sequence[str] | None, /, *,
                where: str = "") -> ResolvedCommand:
        """The argv and the image's extra env for a container (Kubernetes' command/args rule)."""
        host = self.lookup(image, where=where)
        if command:
            argv = [*command, *(args or ())]
        else:
            argv = [*host.entrypoint, *(args if args is not None else host.cmd)]
        if not argv:
            raise ImageNotMapped(where, image, "no command given and the image map has no default command")
        path = (str(self._tool_dir / _tools_key(host.tools)),) if host.tools and self._tool_dir else ()
        return ResolvedCommand(_map_programs(argv, {**host.tools, **host.programs}), dict(host.env), path)


def _tools_key(tools: Mapping[str, tuple[str, ...]]) -> str:
    text = "\n".join(f"{name}={shlex.join(argv)}" for name, argv in sorted(tools.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _write_shims(directory: Path, tools: Mapping[str, tuple[str, ...]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, argv in tools.items():
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"HostImage tools: {name!r} is not a program name")
        shim = directory / name
        text = f"#!/bin/sh\n# {name} on the image's PATH: a tiphys built-in stand-in\nexec {shlex.join(argv)} \"$@\"\n"
        if shim.is_file() and shim.read_text() == text:
            continue
        tmp = directory / f".{name}.{os.getpid()}"
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.replace(shim)  # atomic: a pod already running never sees half a shim


def _map_one(argv: list[str], at: int, programs: Mapping[str, tuple[str, ...]]) -> list[str]:
    prog = argv[at]
    repl = programs.get(prog)
    if repl is None and "/" in prog:
        repl = programs.get(prog.rsplit("/", 1)[1])
    return argv if repl is None else [*argv[:at], *repl, *argv[at + 1:]]


def _map_programs(argv: list[str], programs: Mapping[str, tuple[str, ...]]) -> list[str]:
    if not programs:
        return argv
    # Argo's wrapper execs the user's command by name: map the program after `--` too
    if len(argv) > 2 and argv[1] == "emissary" and "--" in argv[2:]:
        at = argv.index("--", 2) + 1
        return _map_one(argv, at, programs) if at < len(argv) else argv
    return _map_one(argv, 0, programs)
