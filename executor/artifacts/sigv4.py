"""AWS Signature Version 4 for S3, with the standard library only.

Pure functions: given the request parts, credentials and a timestamp they return the headers to
send. The algorithm (docs.aws.amazon.com, "Signature Version 4 signing process"):

1. canonical request = method, URI-encoded path, sorted query, sorted lower-case headers, the
   list of signed headers, and the payload's SHA-256 (or `UNSIGNED-PAYLOAD`);
2. string to sign = algorithm, timestamp, scope `<date>/<region>/s3/aws4_request`, and the
   SHA-256 of the canonical request;
3. signing key = HMAC chain over date, region, service and `aws4_request`, seeded with
   `AWS4<secret>`; the signature is the hex HMAC of the string to sign.

S3 is the one service whose paths are encoded once, not twice.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote

import msgspec

__all__ = ["EMPTY_SHA256", "UNSIGNED_PAYLOAD", "Credentials", "canonical_request", "sign_headers", "signing_key"]

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_ALGORITHM = "AWS4-HMAC-SHA256"


class Credentials(msgspec.Struct, frozen=True, kw_only=True):
    access_key: str
    secret_key: str = msgspec.field(default="")
    session_token: str | None = None

    def __repr__(self) -> str:  # never print the secret
        return f"Credentials(access_key={self.access_key!r}, secret_key='***')"


def _uri_encode(s: str, *, keep_slash: bool) -> str:
    return quote(s, safe="/-_.~" if keep_slash else "-_.~")


def canonical_request(method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], payload_hash: str, /) -> tuple[str, str]:
    """Return (canonical request, signed header list)."""
    canon_query = "&".join(
        f"{_uri_encode(k, keep_slash=False)}={_uri_encode(v, keep_slash=False)}"
        for k, v in sorted(query.items()))
    lowered = sorted((k.lower().strip(), " ".join(str(v).strip().split())) for k, v in headers.items())
    canon_headers = "".join(f"{k}:{v}\n" for k, v in lowered)
    signed = ";".join(k for k, _ in lowered)
    text = "\n".join([method, _uri_encode(path or "/", keep_slash=True), canon_query, canon_headers, signed, payload_hash])
    return text, signed


def signing_key(secret_key: str, date: str, region: str, service: str = "s3", /) -> bytes:
    k = hmac.new(("AWS4" + secret_key).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def sign_headers(method: str, host: str, path: str, query: Mapping[str, str], headers: Mapping[str, str],
                 payload_hash: str, /, *, credentials: Credentials, region: str, now: _dt.datetime,
                 service: str = "s3") -> dict[str, str]:
    """Headers to send: the given ones plus Host, X-Amz-Date, X-Amz-Content-Sha256, Authorization."""
    amz_date = now.astimezone(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    out = {**headers, "Host": host, "X-Amz-Date": amz_date, "X-Amz-Content-Sha256": payload_hash}
    if credentials.session_token:
        out["X-Amz-Security-Token"] = credentials.session_token
    creq, signed = canonical_request(method, path, query, out, payload_hash)
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join([_ALGORITHM, amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    signature = hmac.new(signing_key(credentials.secret_key, date, region, service), to_sign.encode(), hashlib.sha256).hexdigest()
    out["Authorization"] = f"{_ALGORITHM} Credential={credentials.access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
    return out
