"""An Azure Blob Storage artifact driver over the Blob REST API, authorised with Shared Key.

Argo's `azure` location is `{endpoint, container, blob, accountKeySecret, useSDKCreds}`; the
repository form `{endpoint, container, blobNameFormat, accountKeySecret}` reaches the pod as the
template's `archiveLocation` with the rendered format as `blob` (core.plan.artifact_repo), and
key-only artifacts (`azure: {blob: b}`, or none) complete from it in `repository.py`.

The storage account is the endpoint's first host label (`https://acct.blob.core.windows.net`) or,
for the emulator's path style (`http://127.0.0.1:10000/devstoreaccount1`), the first path segment
-- Argo's rule for IP hosts; a single-label host (`localhost`, a Service name such as `azurite`)
is taken as path style too, where Argo would take the host as the account name, which can never
be one. Requests are signed with the account key (HMAC-SHA256 over the canonicalized headers and
resource, the `SharedKey` scheme, stdlib only). A secret value holding a SAS token (`sig=` in it)
is sent as the query string instead, as Argo does. `useSDKCreds` (managed identity, Azure CLI
credentials) is refused: tiphys has no Azure identity SDK.

What artifacts need, as Argo's driver does it: a file is one block blob (Put Blob, or Put Block +
Put Block List above `single_put_limit`); a directory (`archive: none`) is one blob per file under
`<blob>/`, loaded back from that prefix when no blob has the exact name; `list` enumerates a
prefix (List Blobs, following `NextMarker`); `delete` removes the blob and every blob under
`<blob>/`, a missing one counting as deleted (artifact GC may run twice).
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import http.client
import ipaddress
import shutil
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from email.utils import format_datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from .._errors import ArtifactConfigError, ArtifactError, ArtifactNotFound
from .keys import list_prefix
from .prefixes import files_under, get_under_prefix

__all__ = ["AzureBlobClient", "AzureDriver", "AzureError", "account_from_endpoint"]

API_VERSION = "2020-10-02"
SINGLE_PUT_LIMIT = 64 << 20  # above this, a blob goes up in blocks
BLOCK_SIZE = 8 << 20
_CHUNK = 1 << 20
# the standard headers of the Shared Key string-to-sign, in order (after the verb)
_SIGNED = ("content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
           "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range")


class AzureError(ArtifactError):
    """The Blob service answered with an error status; `code` is its error code (`AuthenticationFailed`, ...)."""

    def __init__(self, message: str, *, status: int, code: str | None, artifact: str | None = None) -> None:
        super().__init__(f"{message} (HTTP {status}{', ' + code if code else ''})", artifact=artifact)
        self.status = status
        self.code = code


def account_from_endpoint(endpoint: str, /) -> tuple[str, str]:
    """(account name, the endpoint URL without a trailing slash) for an Azure Blob endpoint."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ArtifactConfigError(f"azure endpoint {endpoint!r} must be an http(s) URL")
    host = parts.hostname
    try:
        ipaddress.ip_address(host)
        path_style = True
    except ValueError:
        path_style = "." not in host
    if path_style:
        segment = parts.path.strip("/").split("/")[0]
        if not segment:
            raise ArtifactConfigError(f"azure endpoint {endpoint!r}: an IP or single-label host needs the account "
                                      "as the first path segment (http://127.0.0.1:10000/<account>)")
        return segment, endpoint.rstrip("/")
    return host.split(".")[0], endpoint.rstrip("/")


def _is_sas(secret: str) -> bool:
    return "sig=" in secret


class AzureBlobClient:
    """A minimal Blob service client for one container; one connection per request, as S3Client."""

    def __init__(self, endpoint: str, container: str, /, *, account_key: str, timeout: float = 60.0,
                 single_put_limit: int = SINGLE_PUT_LIMIT, block_size: int = BLOCK_SIZE,
                 clock: Callable[[], _dt.datetime] = lambda: _dt.datetime.now(_dt.timezone.utc)) -> None:
        if not container:
            raise ArtifactConfigError("azure location has no container")
        self.account, base = account_from_endpoint(endpoint)
        parts = urlsplit(base)
        self._secure = parts.scheme == "https"
        self._netloc = parts.netloc
        self._base_path = parts.path.rstrip("/")
        self.container = container
        secret = account_key.strip()
        self._sas = dict(parse_qsl(secret.lstrip("?"), keep_blank_values=True)) if _is_sas(secret) else None
        if self._sas is None:
            try:
                self._key = base64.b64decode(secret, validate=True)
            except ValueError as exc:
                raise ArtifactConfigError("the azure account key is not valid base64 (nor a SAS token)") from exc
        self._timeout = timeout
        self.single_put_limit = single_put_limit
        self.block_size = block_size
        self._clock = clock

    # -- signing -----------------------------------------------------------------------------

    def _sign(self, method: str, path: str, query: Mapping[str, str], headers: dict[str, str]) -> None:
        low = {k.lower(): v for k, v in headers.items()}
        std = [low.get(h, "") for h in _SIGNED]
        if std[2] == "0":  # Content-Length: empty when zero (versions 2015-02-21 and later)
            std[2] = ""
        canon_headers = "".join(f"{k}:{' '.join(str(v).split())}\n" for k, v in sorted(low.items())
                                if k.startswith("x-ms-"))
        resource = f"/{self.account}{path}"
        for k in sorted(query, key=str.lower):
            resource += f"\n{k.lower()}:{unquote(str(query[k]))}"
        text = "\n".join([method, *std]) + "\n" + canon_headers + resource
        mac = hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).digest()
        headers["Authorization"] = f"SharedKey {self.account}:{base64.b64encode(mac).decode()}"

    def _request(self, method: str, blob: str | None, /, *, query: Mapping[str, str] | None = None,
                 body: bytes | BinaryIO | None = None, length: int | None = None,
                 headers: Mapping[str, str] | None = None) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        query = dict(query or {})
        path = f"{self._base_path}/{quote(self.container, safe='')}"
        if blob is not None:
            path += "/" + quote(blob, safe="/-_.~")
        sent = {"x-ms-date": format_datetime(self._clock(), usegmt=True), "x-ms-version": API_VERSION,
                **(headers or {})}
        if body is not None or method in ("PUT", "POST"):
            sent["Content-Length"] = str(length if length is not None else len(body or b""))  # type: ignore[arg-type]
        if self._sas is not None:
            query = {**query, **self._sas}
        else:
            self._sign(method, path, query, sent)
        url = path + ("?" + urlencode(sorted(query.items()), quote_via=quote, safe="-_.~") if query else "")
        conn = (http.client.HTTPSConnection(self._netloc, timeout=self._timeout, context=ssl.create_default_context())
                if self._secure else http.client.HTTPConnection(self._netloc, timeout=self._timeout))
        try:
            conn.request(method, url, body=body, headers=sent)
            return conn, conn.getresponse()
        except OSError as exc:
            conn.close()
            raise AzureError(f"{method} {self._where(blob)} failed: {exc}", status=0, code=None) from exc

    def _where(self, blob: str | None) -> str:
        return f"azure://{self.account}/{self.container}" + (f"/{blob}" if blob is not None else "")

    def _error(self, method: str, blob: str | None, resp: http.client.HTTPResponse) -> ArtifactError:
        data = resp.read()
        code, message = resp.getheader("x-ms-error-code"), None
        try:
            root = ET.fromstring(data)
            code, message = root.findtext("Code") or code, root.findtext("Message")
        except ET.ParseError:
            pass
        first = (message or resp.reason or "").splitlines()
        text = f"{method} {self._where(blob)}: {first[0] if first else 'error'}"
        if resp.status == 404 and code in (None, "BlobNotFound", "ResourceNotFound"):
            return ArtifactNotFound(f"{text} ({code or 'NotFound'})")
        if code == "AuthenticationFailed" or resp.status == 403:
            text += " -- check the account key in accountKeySecret (and the endpoint's account name)"
        return AzureError(text, status=resp.status, code=code)

    def _simple(self, method: str, blob: str | None, /, **kw: Any) -> bytes:
        conn, resp = self._request(method, blob, **kw)
        try:
            if resp.status >= 300:
                raise self._error(method, blob, resp)
            return resp.read()
        finally:
            conn.close()

    # -- operations --------------------------------------------------------------------------

    def create_container(self) -> None:
        """Create Container; an existing one is fine."""
        try:
            self._simple("PUT", None, query={"restype": "container"})
        except AzureError as exc:
            if exc.code != "ContainerAlreadyExists":
                raise

    def put_file(self, blob: str, src: Path, /) -> None:
        size = src.stat().st_size
        if size <= self.single_put_limit:
            with open(src, "rb") as f:
                self._simple("PUT", blob, body=f, length=size, headers={"x-ms-blob-type": "BlockBlob",
                                                                        "Content-Type": "application/octet-stream"})
            return
        ids: list[str] = []
        with open(src, "rb") as f:
            while chunk := f.read(self.block_size):
                # every id of one blob must have the same length: a zero-padded counter
                block_id = base64.b64encode(f"{len(ids):08d}".encode()).decode()
                self._simple("PUT", blob, query={"comp": "block", "blockid": block_id}, body=chunk)
                ids.append(block_id)
        listing = "".join(f"<Latest>{i}</Latest>" for i in ids)
        body = f'<?xml version="1.0" encoding="utf-8"?><BlockList>{listing}</BlockList>'.encode()
        self._simple("PUT", blob, query={"comp": "blocklist"}, body=body,
                     headers={"x-ms-blob-content-type": "application/octet-stream"})

    def get_file(self, blob: str, dest: Path, /) -> None:
        conn, resp = self._request("GET", blob)
        try:
            if resp.status >= 300:
                raise self._error("GET", blob, resp)
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + ".part")
            with open(tmp, "wb") as f:
                shutil.copyfileobj(resp, f, _CHUNK)
            tmp.replace(dest)
        finally:
            conn.close()

    def get_bytes(self, blob: str, /) -> bytes:
        return self._simple("GET", blob)

    def committed_blocks(self, blob: str, /) -> list[tuple[str, int]]:
        """(block id, size) of the blob's committed blocks, in order (Get Block List)."""
        root = ET.fromstring(self._simple("GET", blob, query={"comp": "blocklist", "blocklisttype": "committed"}))
        return [(b.findtext("Name") or "", int(b.findtext("Size") or 0))
                for b in root.iterfind("CommittedBlocks/Block")]

    def delete(self, blob: str, /) -> bool:
        """Delete Blob (with its snapshots); False when there was none."""
        try:
            self._simple("DELETE", blob, headers={"x-ms-delete-snapshots": "include"})
            return True
        except ArtifactNotFound:
            return False

    def list_blobs(self, prefix: str, /, *, max_results: int = 5000) -> Iterator[str]:
        """Every blob name under `prefix` in the service's order, page after page (List Blobs)."""
        marker: str | None = None
        while True:
            query = {"restype": "container", "comp": "list", "maxresults": str(max_results)}
            if prefix:
                query["prefix"] = prefix
            if marker:
                query["marker"] = marker
            root = ET.fromstring(self._simple("GET", None, query=query))
            for item in root.iter("Blob"):
                name = item.findtext("Name")
                if name is not None:
                    yield name
            marker = root.findtext("NextMarker") or None
            if marker is None:
                return


class AzureDriver:
    """Artifact driver for `azure` locations; `get`/`put` handle files and prefix directories."""

    def __init__(self, *, secrets: Callable[[str, str], str], single_put_limit: int = SINGLE_PUT_LIMIT,
                 block_size: int = BLOCK_SIZE, list_page_size: int = 5000) -> None:
        if not 0 < block_size <= single_put_limit:
            raise ValueError(f"block_size {block_size} must be positive and at most single_put_limit {single_put_limit}")
        self._secrets = secrets
        self._single_put_limit = single_put_limit
        self._block_size = block_size
        self._page = list_page_size  # List Blobs' maxresults (the service's own cap is 5000)

    def client(self, location: Mapping[str, Any], /) -> tuple[AzureBlobClient, str]:
        """The client for the location's container, and its blob name (without a leading `/`)."""
        for field in ("endpoint", "container"):
            if not location.get(field):
                raise ArtifactConfigError(f"azure location has no {field}")
        if location.get("useSDKCreds"):
            raise ArtifactConfigError("azure.useSDKCreds (managed identity / Azure SDK default credentials) is not "
                                      "supported by tiphys: give accountKeySecret (an account key or a SAS token)")
        ref = location.get("accountKeySecret")
        if not isinstance(ref, Mapping) or not ref.get("name") or not ref.get("key"):
            raise ArtifactConfigError(f"azure.accountKeySecret must name a secret and a key, got {ref!r}")
        key = self._secrets(str(ref["name"]), str(ref["key"]))
        client = AzureBlobClient(str(location["endpoint"]), str(location["container"]), account_key=key,
                                 single_put_limit=self._single_put_limit, block_size=self._block_size)
        return client, str(location.get("blob") or "").lstrip("/")

    def get(self, location: Mapping[str, Any], dest: Path, /) -> None:
        client, blob = self.client(location)
        if blob:
            try:
                client.get_file(blob, dest)
                return
            except ArtifactNotFound:
                pass
        # not a blob: maybe a "directory" (every blob under blob/)
        prefix = blob.rstrip("/") + "/" if blob else ""
        names = list(client.list_blobs(prefix, max_results=self._page))
        if not names:
            raise ArtifactNotFound(f"{client._where(blob)} does not exist")
        get_under_prefix(names, prefix, dest, fetch=client.get_file, what="blob name")

    def put(self, src: Path, location: Mapping[str, Any], /) -> None:
        client, blob = self.client(location)
        if not blob:
            raise ArtifactConfigError("azure location has no blob name")
        if src.is_dir():
            for name, path in files_under(src, blob):
                client.put_file(name, path)
        else:
            client.put_file(blob, src)

    def list(self, location: Mapping[str, Any], /) -> list[str]:
        """Every blob under the location's blob name taken as a directory (as the S3 driver lists a
        key: `list_prefix`), the whole container for an empty name."""
        client, blob = self.client(location)
        return list(client.list_blobs(list_prefix(blob), max_results=self._page))

    def delete(self, location: Mapping[str, Any], /) -> None:
        """Delete the blob and every blob under `blob/`; missing ones are already deleted."""
        client, blob = self.client(location)
        if not blob:
            raise ArtifactConfigError("azure location has no blob: refusing to delete a whole container")
        client.delete(blob)
        for name in list(client.list_blobs(blob.rstrip("/") + "/", max_results=self._page)):
            client.delete(name)
