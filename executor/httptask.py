"""One HTTP template request, as Argo's agent performs it (`workflow/executor/agent.go`).

    result = await perform_http(template["http"], secret=read_secret)   # a NodeResult dict

The request: `method` (GET when empty), `url`, `headers` (each a `value` or a
`valueFrom.secretKeyRef` read through `secret(name, key)`), `body` or `bodyFrom.bytes` (base64, as
Go's []byte is in JSON), `timeoutSeconds` for the whole exchange (none when unset, as Go's zero
`http.Client.Timeout`), `insecureSkipVerify`. The outcome (argo-semantics §2.3, §3.3):
- with a `successCondition`, the expr-lang expression decides, over `request.{method,url,body,
  headers}` and `response.{statusCode,body,headers}` (headers as maps of canonical names to lists
  of values, as Go's `http.Header`); it must yield a bool (Argo's EvalBool);
- without one, a status code of 400 or more fails the node (Argo: `>= 400`, whose message still
  says "non-2XX"; 3xx answers that were not followed succeed);
- `outputs.result` is the response body (Go's `string(body)`: invalid UTF-8 becomes U+FFFD in
  JSON). It is kept on a failed status or a false condition too, where the body was read.
A request that cannot be made or times out fails the node with Go's `url.Error` shape,
`Get "<url>": <reason>`. Message texts for a failed status and a false condition are not in our
reference; these follow Argo's agent as best known and are marked so in the tests.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from tiphys.core.lang.errors import LangError
from tiphys.core.lang.expr import compile_expr

__all__ = ["perform_http", "canonical_header", "SecretReader", "HttpTaskError"]

SecretReader = Callable[[str, str], Awaitable[str]]


class HttpTaskError(Exception):
    """The template cannot be turned into a request (no url, bad bodyFrom, an unreadable secret)."""


def canonical_header(name: str, /) -> str:
    """Go's CanonicalMIMEHeaderKey: `content-type` -> `Content-Type`."""
    if not name or any(c in name for c in " \t\r\n:"):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _header_map(pairs: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        out.setdefault(canonical_header(str(key)), []).append(str(value))
    return out


async def _request_parts(http: Mapping[str, Any], secret: SecretReader) -> tuple[str, str, list[tuple[str, str]], bytes]:
    url = http.get("url")
    if not isinstance(url, str) or not url:
        raise HttpTaskError("http.url is required")
    method = str(http.get("method") or "GET").upper()
    headers: list[tuple[str, str]] = []
    for i, h in enumerate(http.get("headers") or ()):
        if not isinstance(h, dict) or not h.get("name"):
            raise HttpTaskError(f"http.headers[{i}]: a header needs a name")
        ref = (h.get("valueFrom") or {}).get("secretKeyRef")
        if isinstance(ref, dict):
            try:
                value = await secret(str(ref.get("name") or ""), str(ref.get("key") or ""))
            except HttpTaskError as exc:
                raise HttpTaskError(f"http.headers[{i}] ({h['name']}): {exc}") from None
        else:
            value = str(h.get("value") or "")
        headers.append((str(h["name"]), value))
    body = b""
    if http.get("body"):
        body = str(http["body"]).encode()
    elif isinstance(http.get("bodyFrom"), dict) and http["bodyFrom"].get("bytes"):
        try:
            body = base64.b64decode(str(http["bodyFrom"]["bytes"]), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise HttpTaskError(f"http.bodyFrom.bytes is not base64: {exc}") from None
    return method, url, headers, body


def _go_error(method: str, url: str, exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        reason = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
    else:
        reason = str(exc) or type(exc).__name__
    return f'{method.title()} "{url}": {reason}'


async def perform_http(http: Mapping[str, Any], /, *, secret: SecretReader) -> dict[str, Any]:
    """Run one `http` template; the NodeResult (`phase`, `message`, `outputs`) for the task set."""
    try:
        method, url, headers, body = await _request_parts(http, secret)
    except HttpTaskError as exc:
        return {"phase": "Failed", "message": str(exc)}
    seconds = http.get("timeoutSeconds")
    timeout = aiohttp.ClientTimeout(total=float(seconds) if isinstance(seconds, (int, float)) and seconds > 0
                                    else None)
    ssl: Any = False if http.get("insecureSkipVerify") else True
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.request(method, url, data=body or None, headers=headers, ssl=ssl) as resp:
                raw = await resp.read()
                status = resp.status
                response_headers = _header_map(resp.headers.items())
    except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
        return {"phase": "Failed", "message": _go_error(method, url, exc)}
    text = raw.decode("utf-8", errors="replace")
    outputs = {"result": text}
    condition = http.get("successCondition")
    if not condition:
        if status >= 400:
            return {"phase": "Failed", "message": f"received non-2XX response code: {status}", "outputs": outputs}
        return {"phase": "Succeeded", "outputs": outputs}
    env = {"request": {"method": method, "url": url, "body": body.decode("utf-8", errors="replace"),
                       "headers": _header_map(headers)},
           "response": {"statusCode": status, "body": text, "headers": response_headers}}
    try:
        verdict = compile_expr(str(condition)).evaluate(env)
    except LangError as exc:
        return {"phase": "Failed", "message": f"unable to evaluate expression '{condition}': {exc}",
                "outputs": outputs}
    if not isinstance(verdict, bool):
        return {"phase": "Failed", "message": f"unable to cast expression result '{verdict}' to bool",
                "outputs": outputs}
    if not verdict:
        return {"phase": "Failed", "message": f"successCondition '{condition}' evaluated false", "outputs": outputs}
    return {"phase": "Succeeded", "outputs": outputs}
