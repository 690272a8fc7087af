"""An S3-compatible artifact driver over plain HTTP(S), signed with SigV4 (`sigv4.py`).

Only what artifacts need: PUT/GET/HEAD object, ListObjectsV2 (directories are key prefixes, as
Argo's S3 driver treats them), HEAD/PUT bucket for `createBucketIfNotPresent`. Path-style
addressing (`http://endpoint/bucket/key`) works with AWS and every S3-compatible server.

Argo's location fields are honoured: `endpoint` (host[:port]), `insecure` (plain HTTP), `region`
(default us-east-1), `bucket`, `key`, `accessKeySecret`/`secretKeySecret`/`sessionTokenSecret`
(read through the secret resolver the caller supplies), `createBucketIfNotPresent`.
Uploads stream from disk after one hashing pass; downloads stream to a temporary file that is
renamed into place, so a failed transfer never leaves a partial artifact.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import http.client
import shutil
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode, urlsplit

from .._errors import ArtifactConfigError, ArtifactError, ArtifactNotFound, S3Error
from .keys import list_prefix
from .prefixes import files_under, get_under_prefix
from .sigv4 import EMPTY_SHA256, Credentials, sign_headers

__all__ = ["S3Client", "S3Driver", "SecretResolver"]

SecretResolver = Callable[[str, str], str]
_CHUNK = 1 << 20
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


class S3Client:
    """A minimal signed S3 client; one connection per request keeps it thread-agnostic."""

    def __init__(self, endpoint: str, /, *, credentials: Credentials, region: str = "us-east-1",
                 secure: bool = True, timeout: float = 60.0,
                 clock: Callable[[], _dt.datetime] = lambda: _dt.datetime.now(_dt.timezone.utc)) -> None:
        if "://" in endpoint:  # tolerate a URL; Argo's field is host[:port]
            parts = urlsplit(endpoint)
            endpoint, secure = parts.netloc, parts.scheme == "https"
        if not endpoint:
            raise ArtifactConfigError("S3 endpoint is empty")
        self.endpoint = endpoint
        self.secure = secure
        self._credentials = credentials
        self._region = region
        self._timeout = timeout
        self._clock = clock

    def _connect(self) -> http.client.HTTPConnection:
        if self.secure:
            return http.client.HTTPSConnection(self.endpoint, timeout=self._timeout, context=ssl.create_default_context())
        return http.client.HTTPConnection(self.endpoint, timeout=self._timeout)

    def _request(self, method: str, bucket: str, key: str = "", /, *, query: Mapping[str, str] | None = None,
                 body: bytes | BinaryIO | None = None, payload_hash: str = EMPTY_SHA256,
                 headers: Mapping[str, str] | None = None) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        query = dict(query or {})
        path = f"/{bucket}/{key}" if key else f"/{bucket}"
        sent = sign_headers(method, self.endpoint, path, query, dict(headers or {}), payload_hash,
                            credentials=self._credentials, region=self._region, now=self._clock())
        url = quote(path, safe="/-_.~") + ("?" + urlencode(sorted(query.items()), quote_via=quote, safe="-_.~") if query else "")
        conn = self._connect()
        try:
            conn.request(method, url, body=body, headers=sent)
            return conn, conn.getresponse()
        except OSError as exc:
            conn.close()
            raise S3Error(f"{method} {self.endpoint}{path} failed: {exc}", status=0, code=None) from exc

    @staticmethod
    def _error(method: str, what: str, resp: http.client.HTTPResponse) -> ArtifactError:
        data = resp.read()
        code = message = None
        try:
            root = ET.fromstring(data)
            code, message = root.findtext("Code"), root.findtext("Message")
        except ET.ParseError:
            pass
        text = f"{method} {what}: {message or resp.reason}"
        if resp.status == 404:
            return ArtifactNotFound(f"{text} ({code or 'NotFound'})")
        return S3Error(text, status=resp.status, code=code)

    def _simple(self, method: str, bucket: str, key: str = "", /, **kw: Any) -> tuple[int, bytes]:
        conn, resp = self._request(method, bucket, key, **kw)
        try:
            if resp.status >= 300:
                raise self._error(method, f"s3://{bucket}/{key}", resp)
            return resp.status, resp.read()
        finally:
            conn.close()

    def bucket_exists(self, bucket: str, /) -> bool:
        try:
            self._simple("HEAD", bucket)
            return True
        except ArtifactNotFound:
            return False

    def create_bucket(self, bucket: str, /) -> None:
        self._simple("PUT", bucket)

    def put_file(self, bucket: str, key: str, src: Path, /) -> None:
        digest = _sha256_file(src)
        size = src.stat().st_size
        with open(src, "rb") as f:
            self._simple("PUT", bucket, key, body=f, payload_hash=digest,
                         headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"})

    def put_bytes(self, bucket: str, key: str, data: bytes, /) -> None:
        self._simple("PUT", bucket, key, body=data, payload_hash=hashlib.sha256(data).hexdigest(),
                     headers={"Content-Length": str(len(data))})

    def get_file(self, bucket: str, key: str, dest: Path, /) -> None:
        conn, resp = self._request("GET", bucket, key)
        try:
            if resp.status >= 300:
                raise self._error("GET", f"s3://{bucket}/{key}", resp)
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + ".part")
            with open(tmp, "wb") as f:
                shutil.copyfileobj(resp, f, _CHUNK)
            tmp.replace(dest)
        finally:
            conn.close()

    def get_bytes(self, bucket: str, key: str, /) -> bytes:
        return self._simple("GET", bucket, key)[1]

    def delete(self, bucket: str, key: str, /) -> None:
        self._simple("DELETE", bucket, key)

    def list_keys(self, bucket: str, prefix: str, /, *, max_keys: int = 1000) -> Iterator[str]:
        """Every key under `prefix`, page after page (`max_keys` per ListObjectsV2 call, S3's 1000)."""
        token: str | None = None
        while True:
            query = {"list-type": "2", "prefix": prefix, "max-keys": str(max_keys)}
            if token:
                query["continuation-token"] = token
            _, data = self._simple("GET", bucket, query=query)
            root = ET.fromstring(data)
            ns = _NS if root.tag.startswith(_NS) else ""
            for item in root.iter(f"{ns}Contents"):
                key = item.findtext(f"{ns}Key")
                if key is not None:
                    yield key
            if root.findtext(f"{ns}IsTruncated") != "true":
                return
            token = root.findtext(f"{ns}NextContinuationToken")
            if not token:  # a truncated page must say where the next one starts
                raise S3Error(f"GET s3://{bucket}?prefix={prefix}: truncated listing without a continuation token",
                              status=200, code=None)


class S3Driver:
    """Artifact driver for `s3` locations; `get`/`put` handle files and key-prefix directories."""

    def __init__(self, *, secrets: SecretResolver, defaults: Mapping[str, Any] | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self._secrets = secrets
        self._defaults = dict(defaults or {})  # repository config merged under key-only locations
        self._env = dict(env or {})            # AWS_* for useSDKCreds

    def _location(self, location: Mapping[str, Any]) -> dict[str, Any]:
        merged = {**self._defaults, **{k: v for k, v in location.items() if v not in (None, "")}}
        for field in ("endpoint", "bucket"):
            if not merged.get(field):
                raise ArtifactConfigError(f"s3 location has no {field}")
        return merged

    def _credentials(self, loc: Mapping[str, Any]) -> Credentials:
        def secret(field: str) -> str | None:
            ref = loc.get(field)
            if not ref:
                return None
            if not isinstance(ref, Mapping) or not ref.get("name") or not ref.get("key"):
                raise ArtifactConfigError(f"s3.{field} must name a secret and a key, got {ref!r}")
            return self._secrets(str(ref["name"]), str(ref["key"]))
        access, secret_key = secret("accessKeySecret"), secret("secretKeySecret")
        if access is None and (loc.get("useSDKCreds") or not loc.get("accessKeySecret")):
            access = self._env.get("AWS_ACCESS_KEY_ID")
            secret_key = self._env.get("AWS_SECRET_ACCESS_KEY")
        if not access or secret_key is None:
            raise ArtifactConfigError("s3 location has no credentials (accessKeySecret/secretKeySecret or AWS_* env)")
        return Credentials(access_key=access.strip(), secret_key=secret_key.strip(),
                           session_token=(secret("sessionTokenSecret") or self._env.get("AWS_SESSION_TOKEN") or None))

    def client(self, location: Mapping[str, Any], /) -> tuple[S3Client, dict[str, Any]]:
        loc = self._location(location)
        client = S3Client(str(loc["endpoint"]), credentials=self._credentials(loc),
                          region=str(loc.get("region") or "us-east-1"), secure=not loc.get("insecure", False))
        return client, loc

    def get(self, location: Mapping[str, Any], dest: Path, /) -> None:
        client, loc = self.client(location)
        bucket, key = loc["bucket"], str(loc.get("key", "")).lstrip("/")
        try:
            client.get_file(bucket, key, dest)
            return
        except ArtifactNotFound:
            pass
        # not an object: maybe a "directory" (every object under key/)
        prefix = key.rstrip("/") + "/" if key else ""
        keys = list(client.list_keys(bucket, prefix))
        if not keys:
            raise ArtifactNotFound(f"s3://{bucket}/{key} does not exist")
        get_under_prefix(keys, prefix, dest, fetch=lambda k, path: client.get_file(bucket, k, path),
                         what="object key")

    def list(self, location: Mapping[str, Any], /) -> list[str]:
        """Every object key under the location's key, recursively (Argo's `ListDirectory`: the key
        cleaned and taken as a directory, the whole bucket for an empty key); ListObjectsV2 pages
        are followed to the end, and S3 returns keys in UTF-8 byte order."""
        client, loc = self.client(location)
        return list(client.list_keys(str(loc["bucket"]), list_prefix(str(loc.get("key") or ""))))

    def delete(self, location: Mapping[str, Any], /) -> None:
        """Delete the object at the key and every object under `key/` (a "directory" artifact, as
        Argo's driver does for one); S3 answers a missing key with success, so this is idempotent."""
        client, loc = self.client(location)
        bucket, key = str(loc["bucket"]), str(loc.get("key", "")).lstrip("/")
        if not key:
            raise ArtifactConfigError("s3 location has no key: refusing to delete a whole bucket")
        client.delete(bucket, key)
        for k in list(client.list_keys(bucket, key.rstrip("/") + "/")):
            client.delete(bucket, k)

    def put(self, src: Path, location: Mapping[str, Any], /) -> None:
        client, loc = self.client(location)
        bucket, key = loc["bucket"], str(loc.get("key", "")).lstrip("/")
        if loc.get("createBucketIfNotPresent") and not client.bucket_exists(bucket):
            try:
                client.create_bucket(bucket)
            except S3Error as exc:
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
        if src.is_dir():
            for name, path in files_under(src, key):
                client.put_file(bucket, name, path)
        else:
            client.put_file(bucket, key, src)
