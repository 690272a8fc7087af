"""A deliberately tiny synchronous HTTPS client for fixtures and cluster tests.

It is independent of tiphys' own API client on purpose: the fixture has to install
CRDs and make namespaces before that client is trusted, and a test that checks the
real client against the real server should not set the server up through the code
under test. Standard library only (``urllib`` + ``ssl``), JSON in and out.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["Rest", "HttpStatusError"]


class HttpStatusError(Exception):
    """The server answered with a non-2xx status; ``body`` is the decoded Status, if any."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        reason = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"{method} {path}: HTTP {status}: {reason}")
        self.method = method
        self.path = path
        self.status = status
        self.body = body


class Rest:
    """JSON requests against one API server with one bearer token."""

    def __init__(self, server: str, /, *, ca_cert: Path, token: str | None) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self.ssl_context = ssl.create_default_context(cafile=str(ca_cert))

    def with_token(self, token: str | None, /) -> Rest:
        """The same server seen as another user."""
        clone = object.__new__(Rest)
        clone.server, clone.token, clone.ssl_context = self.server, token, self.ssl_context
        return clone

    def request(
        self,
        method: str,
        path: str,
        /,
        *,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> Any:
        """Send one request; return the decoded JSON body or raise :class:`HttpStatusError`."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        if self.token is not None:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.ssl_context) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                decoded: Any = json.loads(raw)
            except ValueError:
                decoded = raw.decode("utf-8", "replace")
            raise HttpStatusError(method, path, exc.code, decoded) from None
        return json.loads(raw) if raw else None

    def get(self, path: str, /) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any, /) -> Any:
        return self.request("POST", path, body=body)

    def delete(self, path: str, /) -> Any:
        return self.request("DELETE", path)
