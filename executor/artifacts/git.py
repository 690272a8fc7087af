"""`git` input artifacts: a checkout made with the `git` binary.

Location fields: `repo`, `revision`, `depth`, `fetch` (extra refspecs), `branch`/`singleBranch`,
`disableSubmodules`, `insecureIgnoreHostKey`, and credentials (`usernameSecret`/`passwordSecret`
sent as an HTTP basic-auth header, never in the URL; `sshPrivateKeySecret` written to a 0600 file
for ssh). Git artifacts are input-only, as in Argo.
"""
from __future__ import annotations

import base64
import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._errors import ArtifactConfigError, ArtifactError

__all__ = ["GitDriver"]


class GitDriver:
    def __init__(self, *, secrets: Callable[[str, str], str], git: str = "git", timeout: float = 600.0) -> None:
        self._secrets = secrets
        self._git = git
        self._timeout = timeout

    def _secret(self, loc: Mapping[str, Any], field: str) -> str | None:
        ref = loc.get(field)
        if not ref:
            return None
        if not isinstance(ref, Mapping) or not ref.get("name") or not ref.get("key"):
            raise ArtifactConfigError(f"git.{field} must name a secret and a key, got {ref!r}")
        return self._secrets(str(ref["name"]), str(ref["key"]))

    def _run(self, args: Sequence[str], *, env: Mapping[str, str], config: Sequence[str], cwd: Path | None = None) -> None:
        cmd = [self._git, *(x for c in config for x in ("-c", c)), *args]
        try:
            proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=self._timeout, check=False)
        except FileNotFoundError as exc:
            raise ArtifactConfigError(f"git binary {self._git!r} not found") from exc
        except subprocess.TimeoutExpired as exc:
            raise ArtifactError(f"git {args[0]} timed out after {self._timeout}s") from exc
        if proc.returncode != 0:
            # Argo's git driver reports every failure as a plain error (never NotFound), so an
            # optional git artifact that cannot be cloned fails the pod there too.
            raise ArtifactError(f"git {args[0]} failed ({proc.returncode}): {proc.stderr.strip()}")

    def get(self, location: Mapping[str, Any], dest: Path, /) -> None:
        repo = location.get("repo")
        if not isinstance(repo, str) or not repo:
            raise ArtifactConfigError("git.repo is required")
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false"}
        config: list[str] = ["advice.detachedHead=false"]
        user, password = self._secret(location, "usernameSecret"), self._secret(location, "passwordSecret")
        if user is not None or password is not None:
            token = base64.b64encode(f"{user or ''}:{password or ''}".encode()).decode()
            config.append(f"http.extraHeader=Authorization: Basic {token}")
        if location.get("insecureSkipTLS"):
            config.append("http.sslVerify=false")
        with tempfile.TemporaryDirectory(prefix="git-key-") as keydir:
            key = self._secret(location, "sshPrivateKeySecret")
            if key is not None:
                key_file = Path(keydir, "id")
                key_file.write_text(key if key.endswith("\n") else key + "\n")
                key_file.chmod(0o600)
                hostkey = " -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null" if location.get("insecureIgnoreHostKey") else ""
                env["GIT_SSH_COMMAND"] = f"ssh -i {key_file} -o IdentitiesOnly=yes{hostkey}"
            clone = ["clone", "--quiet"]
            depth = location.get("depth")
            if depth:
                clone += ["--depth", str(int(depth))]
            if location.get("singleBranch"):
                clone.append("--single-branch")
            if location.get("branch"):
                clone += ["--branch", str(location["branch"])]
            if not location.get("disableSubmodules"):
                clone.append("--recurse-submodules")
            dest.parent.mkdir(parents=True, exist_ok=True)
            self._run([*clone, "--", repo, str(dest)], env=env, config=config)
            for refspec in location.get("fetch") or ():
                self._run(["fetch", "--quiet", "origin", str(refspec)], env=env, config=config, cwd=dest)
            revision = location.get("revision")
            if revision:
                try:
                    self._run(["checkout", "--quiet", str(revision)], env=env, config=config, cwd=dest)
                except ArtifactError:
                    # a shallow clone may lack the revision: fetch it by name, then check it out
                    fetch = ["fetch", "--quiet", *(("--depth", str(int(depth))) if depth else ()), "origin", str(revision)]
                    self._run(fetch, env=env, config=config, cwd=dest)
                    self._run(["checkout", "--quiet", "FETCH_HEAD"], env=env, config=config, cwd=dest)

    def put(self, src: Path, location: Mapping[str, Any], /) -> None:
        raise ArtifactConfigError("git artifacts are input-only; they cannot be saved")
