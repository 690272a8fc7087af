"""`http` and `artifactory` artifacts: GET to load, PUT to save (Argo's drivers), via urllib.

`http` location fields: `url`, `headers` ([{name, value}]) and `auth.basicAuth` with
username/password secret references resolved by the caller's secret resolver. `artifactory` is
the same transfer with `url` and `usernameSecret`/`passwordSecret` at the top of the location.
"""
from __future__ import annotations

import base64
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .._errors import ArtifactConfigError, ArtifactError, ArtifactNotFound

__all__ = ["ArtifactoryDriver", "HTTPDriver"]


class HTTPDriver:
    def __init__(self, *, secrets: Callable[[str, str], str], timeout: float = 60.0) -> None:
        self._secrets = secrets
        self._timeout = timeout

    def _headers(self, loc: Mapping[str, Any]) -> dict[str, str]:
        headers = {}
        for i, h in enumerate(loc.get("headers") or ()):
            if not isinstance(h, Mapping) or not h.get("name"):
                raise ArtifactConfigError(f"http.headers[{i}] needs a name, got {h!r}")
            headers[str(h["name"])] = str(h.get("value", ""))
        basic = (loc.get("auth") or {}).get("basicAuth")
        if basic:
            user = self._secret(basic, "usernameSecret")
            password = self._secret(basic, "passwordSecret")
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        return headers

    def _secret(self, basic: Mapping[str, Any], field: str) -> str:
        ref = basic.get(field) or {}
        if not ref.get("name") or not ref.get("key"):
            raise ArtifactConfigError(f"http.auth.basicAuth.{field} must name a secret and a key")
        return self._secrets(str(ref["name"]), str(ref["key"]))

    @staticmethod
    def _url(loc: Mapping[str, Any]) -> str:
        url = loc.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ArtifactConfigError(f"http.url must be an http(s) URL, got {url!r}")
        return url

    def get(self, location: Mapping[str, Any], dest: Path, /) -> None:
        url = self._url(location)
        req = urllib.request.Request(url, headers=self._headers(location))
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as resp, open(tmp, "wb") as f:
                shutil.copyfileobj(resp, f, 1 << 20)
        except urllib.error.HTTPError as exc:
            tmp.unlink(missing_ok=True)
            if exc.code == 404:
                raise ArtifactNotFound(f"GET {url}: 404 Not Found") from exc
            raise ArtifactError(f"GET {url}: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError) as exc:
            tmp.unlink(missing_ok=True)
            raise ArtifactError(f"GET {url}: {exc}") from exc
        tmp.replace(dest)

    def put(self, src: Path, location: Mapping[str, Any], /) -> None:
        url = self._url(location)
        if src.is_dir():
            raise ArtifactConfigError(f"http artifacts upload one file; {src} is a directory (use an archive)")
        headers = {**self._headers(location), "Content-Length": str(src.stat().st_size)}
        with open(src, "rb") as f:
            req = urllib.request.Request(url, data=f, method="PUT", headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=self._timeout) as resp:
                    resp.read()
            except urllib.error.HTTPError as exc:
                raise ArtifactError(f"PUT {url}: HTTP {exc.code} {exc.reason}") from exc
            except (urllib.error.URLError, OSError) as exc:
                raise ArtifactError(f"PUT {url}: {exc}") from exc


class ArtifactoryDriver:
    """Artifactory is HTTP GET/PUT with basic auth taken from the location's own secret fields."""

    def __init__(self, *, secrets: Callable[[str, str], str], timeout: float = 60.0) -> None:
        self._http = HTTPDriver(secrets=secrets, timeout=timeout)

    @staticmethod
    def _as_http(loc: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"url": loc.get("url")}
        if loc.get("usernameSecret") or loc.get("passwordSecret"):
            out["auth"] = {"basicAuth": {"usernameSecret": loc.get("usernameSecret"), "passwordSecret": loc.get("passwordSecret")}}
        return out

    def get(self, location: Mapping[str, Any], dest: Path, /) -> None:
        self._http.get(self._as_http(location), dest)

    def put(self, src: Path, location: Mapping[str, Any], /) -> None:
        self._http.put(src, self._as_http(location))
