"""SigV4 signing against AWS's published example and against botocore."""
from __future__ import annotations

import datetime as dt

import pytest

from tiphys.executor.artifacts.sigv4 import EMPTY_SHA256, Credentials, canonical_request, sign_headers

AWS_EXAMPLE = Credentials(access_key="AKIAIOSFODNN7EXAMPLE", secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
WHEN = dt.datetime(2013, 5, 24, tzinfo=dt.timezone.utc)


def test_aws_documented_get_object_example() -> None:
    """The "GET Object" example of the S3 SigV4 documentation (Range header, empty payload)."""
    headers = sign_headers("GET", "examplebucket.s3.amazonaws.com", "/test.txt", {}, {"Range": "bytes=0-9"},
                           EMPTY_SHA256, credentials=AWS_EXAMPLE, region="us-east-1", now=WHEN)
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")


def test_aws_documented_list_objects_example() -> None:
    """The "GET Bucket (List Objects)" example: query parameters are sorted and encoded."""
    headers = sign_headers("GET", "examplebucket.s3.amazonaws.com", "/", {"max-keys": "2", "prefix": "J"}, {},
                           EMPTY_SHA256, credentials=AWS_EXAMPLE, region="us-east-1", now=WHEN)
    assert headers["Authorization"].endswith(
        "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")


def test_canonical_request_encodes_key_once_and_sorts() -> None:
    text, signed = canonical_request("PUT", "/b/a key/ü+x", {"z": "1", "a": "x y"}, {"X-B": " v  w ", "Host": "h"}, "HASH")
    assert text.splitlines() == ["PUT", "/b/a%20key/%C3%BC%2Bx", "a=x%20y&z=1", "host:h", "x-b:v w", "", "host;x-b", "HASH"]
    assert signed == "host;x-b"


def test_session_token_is_signed() -> None:
    creds = Credentials(access_key="AK", secret_key="SK", session_token="TOKEN")
    h = sign_headers("GET", "h", "/b/k", {}, {}, EMPTY_SHA256, credentials=creds, region="eu-west-1", now=WHEN)
    assert h["X-Amz-Security-Token"] == "TOKEN"
    assert "x-amz-security-token" in h["Authorization"]
    assert "secret" not in repr(creds).lower() or "***" in repr(creds)


def test_matches_botocore() -> None:
    """The same request signed by botocore's S3SigV4Auth (at its own clock reading) matches ours."""
    pytest.importorskip("botocore", reason="botocore is not installed; cross-check skipped")
    import hashlib

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCreds
    payload = b"hello world"
    digest = hashlib.sha256(payload).hexdigest()
    req = AWSRequest(method="PUT", url="http://127.0.0.1:9000/bucket/dir/obj%20name.txt", data=payload,
                     headers={"Content-Type": "text/plain", "X-Amz-Content-SHA256": digest})
    S3SigV4Auth(BotoCreds(AWS_EXAMPLE.access_key, AWS_EXAMPLE.secret_key), "s3", "us-east-1").add_auth(req)
    when = dt.datetime.strptime(req.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    ours = sign_headers("PUT", "127.0.0.1:9000", "/bucket/dir/obj name.txt", {}, {"Content-Type": "text/plain"},
                        digest, credentials=AWS_EXAMPLE, region="us-east-1", now=when)
    theirs = req.headers["Authorization"]
    assert ours["Authorization"].split("Signature=")[1] == theirs.split("Signature=")[1], (ours["Authorization"], theirs)
