"""Artifact drivers and the repository facade (see `repository.py` for the model)."""
from .archive import is_tarball, is_zip, make_tgz, make_zip, recompress, safe_extract_tar, safe_extract_zip, unpack
from .azure import AzureBlobClient, AzureDriver, AzureError, account_from_endpoint
from .git import GitDriver
from .http import ArtifactoryDriver, HTTPDriver
from .keys import DEFAULT_KEY_FORMAT, archive_strategy, artifact_file_name, join_key, list_prefix, render_key_format
from .local import LocalDriver
from .raw import RawDriver
from .repository import KEY_FIELDS, LOCATION_TYPES, ArtifactRepository, Driver, location_of
from .s3 import S3Client, S3Driver
from .sigv4 import Credentials

__all__ = [
    "DEFAULT_KEY_FORMAT",
    "KEY_FIELDS",
    "LOCATION_TYPES",
    "ArtifactRepository",
    "ArtifactoryDriver",
    "AzureBlobClient",
    "AzureDriver",
    "AzureError",
    "Credentials",
    "Driver",
    "GitDriver",
    "HTTPDriver",
    "LocalDriver",
    "RawDriver",
    "S3Client",
    "S3Driver",
    "account_from_endpoint",
    "archive_strategy",
    "artifact_file_name",
    "is_tarball",
    "is_zip",
    "join_key",
    "list_prefix",
    "location_of",
    "make_tgz",
    "make_zip",
    "recompress",
    "render_key_format",
    "safe_extract_tar",
    "safe_extract_zip",
    "unpack",
]
