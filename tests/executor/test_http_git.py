"""HTTP and git input artifacts against local servers: an http.server thread and a bare repo."""
from __future__ import annotations

import base64
import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tiphys.executor import ArtifactError, ArtifactNotFound
from tiphys.executor.artifacts import ArtifactoryDriver, ArtifactRepository, GitDriver, HTTPDriver, make_tgz


class _Handler(http.server.BaseHTTPRequestHandler):
    store: dict[str, bytes]
    seen_headers: list[dict[str, str]]

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self.seen_headers.append(dict(self.headers))
        if self.path == "/private" and self.headers.get("Authorization") != "Basic " + base64.b64encode(b"u:p").decode():
            self.send_response(401)
            self.end_headers()
            return
        body = self.store.get(self.path)
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        n = int(self.headers["Content-Length"])
        self.store[self.path] = self.rfile.read(n)
        self.send_response(201)
        self.end_headers()


@pytest.fixture
def http_server() -> Iterator[tuple[str, dict[str, bytes], list[dict[str, str]]]]:
    store: dict[str, bytes] = {}
    seen: list[dict[str, str]] = []
    handler = type("H", (_Handler,), {"store": store, "seen_headers": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", store, seen
    finally:
        server.shutdown()
        server.server_close()


SECRETS = {("basic", "user"): "u", ("basic", "pass"): "p"}


def _repo() -> ArtifactRepository:
    resolve = lambda name, key: SECRETS[(name, key)]  # noqa: E731
    return ArtifactRepository(drivers={"http": HTTPDriver(secrets=resolve), "git": GitDriver(secrets=resolve),
                                       "artifactory": ArtifactoryDriver(secrets=resolve)})


def test_http_plain_file_with_headers(http_server, tmp_path: Path) -> None:
    url, store, seen = http_server
    store["/data.txt"] = b"plain content"
    dest = tmp_path / "in" / "data"
    art = {"name": "data", "path": "/data", "http": {"url": f"{url}/data.txt", "headers": [{"name": "X-Token", "value": "t1"}]}}
    assert _repo().load(art, dest)
    assert dest.read_bytes() == b"plain content"
    assert seen[-1]["X-Token"] == "t1"


def test_http_tarball_is_unpacked(http_server, tmp_path: Path) -> None:
    url, store, _ = http_server
    src = tmp_path / "pkg"
    src.mkdir()
    (src / "main.py").write_text("print(1)")
    store["/pkg.tgz"] = make_tgz(src, tmp_path / "pkg.tgz").read_bytes()
    dest = tmp_path / "in" / "pkg"
    _repo().load({"name": "pkg", "path": "/pkg", "http": {"url": f"{url}/pkg.tgz"}}, dest)
    assert (dest / "main.py").read_text() == "print(1)"


def test_http_basic_auth(http_server, tmp_path: Path) -> None:
    url, store, _ = http_server
    store["/private"] = b"secret data"
    auth = {"basicAuth": {"usernameSecret": {"name": "basic", "key": "user"}, "passwordSecret": {"name": "basic", "key": "pass"}}}
    dest = tmp_path / "p"
    _repo().load({"name": "p", "path": "/p", "http": {"url": f"{url}/private", "auth": auth}}, dest)
    assert dest.read_bytes() == b"secret data"
    with pytest.raises(ArtifactError, match="401"):
        _repo().load({"name": "p", "path": "/p", "http": {"url": f"{url}/private"}}, tmp_path / "q")


def test_http_missing_and_optional(http_server, tmp_path: Path) -> None:
    url, _, _ = http_server
    art = {"name": "m", "path": "/m", "http": {"url": f"{url}/missing"}}
    with pytest.raises(ArtifactNotFound):
        _repo().load(art, tmp_path / "m")
    assert _repo().load({**art, "optional": True}, tmp_path / "m") is False


def test_http_save_puts_the_archive(http_server, tmp_path: Path) -> None:
    url, store, _ = http_server
    f = tmp_path / "out.txt"
    f.write_text("uploaded")
    saved = _repo().save(f, {"name": "o", "path": "/out.txt", "archive": {"none": {}}, "http": {"url": f"{url}/up/out.txt"}})
    assert saved["http"]["url"] == f"{url}/up/out.txt"
    assert store["/up/out.txt"] == b"uploaded"


def test_artifactory_roundtrip_with_basic_auth(http_server, tmp_path: Path) -> None:
    """artifactory: PUT then GET at the URL, credentials from usernameSecret/passwordSecret."""
    url, store, seen = http_server
    loc = {"url": f"{url}/private", "usernameSecret": {"name": "basic", "key": "user"},
           "passwordSecret": {"name": "basic", "key": "pass"}}
    f = tmp_path / "a.txt"
    f.write_text("to artifactory")
    _repo().save(f, {"name": "a", "path": "/a.txt", "archive": {"none": {}}, "artifactory": loc})
    assert store["/private"] == b"to artifactory"
    dest = tmp_path / "back"
    _repo().load({"name": "a", "path": "/a", "artifactory": loc}, dest)
    assert dest.read_text() == "to artifactory"
    assert seen[-1]["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()


def test_http_rejects_non_http_urls(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="http.url"):
        _repo().load({"name": "f", "path": "/f", "http": {"url": "file:///etc/passwd"}}, tmp_path / "f")


@pytest.fixture
def bare_repo(tmp_path: Path) -> tuple[Path, str, str]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    work = tmp_path / "work"
    env_cfg = ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]

    def git(*args: str, cwd: Path = work) -> str:
        return subprocess.run(["git", *env_cfg, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()
    work.mkdir()
    git("init", "-q")
    (work / "README").write_text("v1\n")
    git("add", "README")
    git("commit", "-q", "-m", "one")
    first = git("rev-parse", "HEAD")
    (work / "README").write_text("v2\n")
    git("commit", "-q", "-am", "two")
    git("checkout", "-q", "-b", "feature")
    (work / "FEATURE").write_text("f\n")
    git("add", "FEATURE")
    git("commit", "-q", "-m", "feature")
    git("checkout", "-q", "main")
    bare = tmp_path / "repo.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare, first, "feature"


def test_git_clone_head(bare_repo, tmp_path: Path) -> None:
    bare, _, _ = bare_repo
    dest = tmp_path / "src"
    assert _repo().load({"name": "src", "path": "/src", "git": {"repo": str(bare)}}, dest)
    assert (dest / "README").read_text() == "v2\n"


def test_git_revision_and_branch(bare_repo, tmp_path: Path) -> None:
    bare, first, branch = bare_repo
    dest = tmp_path / "old"
    _repo().load({"name": "src", "path": "/src", "git": {"repo": str(bare), "revision": first}}, dest)
    assert (dest / "README").read_text() == "v1\n"
    dest2 = tmp_path / "feat"
    _repo().load({"name": "src", "path": "/src", "git": {"repo": str(bare), "branch": branch, "singleBranch": True, "depth": 1}}, dest2)
    assert (dest2 / "FEATURE").exists()


def test_git_shallow_clone_fetches_an_old_revision(bare_repo, tmp_path: Path) -> None:
    bare, first, _ = bare_repo
    dest = tmp_path / "shallow"
    _repo().load({"name": "src", "path": "/src", "git": {"repo": f"file://{bare}", "depth": 1, "revision": first}}, dest)
    assert (dest / "README").read_text() == "v1\n"


def test_git_failure_is_an_artifact_error(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    with pytest.raises(ArtifactError, match="git clone failed"):
        _repo().load({"name": "src", "path": "/src", "git": {"repo": str(tmp_path / "no-such.git")}}, tmp_path / "d")


def test_git_is_input_only(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(ArtifactError, match="input-only"):
        _repo().save(f, {"name": "g", "path": "/g", "git": {"repo": "x", "key": "k"}})
