"""Compile the main-container wrapper (`emissary.c`) into a binary.

The wrapper is C so that it runs in any image: built with `cc -static` it needs no libc, shell or
Python in the user's image. Where the static libc is not installed (some distributions ship
only the shared one) the build falls back to a dynamic binary, which still works on the build
machine and in images with a compatible glibc; `build_wrapper` says which one it made through
`WrapperBuild.static`.

`setup.py` (or a test fixture) calls `build_wrapper(out_dir)`; nothing here runs at import.
setup.py loads this file by path, before `tiphys` is importable, so it imports nothing from the
package when loaded that way.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

try:
    from .._errors import WrapperBuildError
except ImportError:  # loaded by path from setup.py: no package around us
    class WrapperBuildError(RuntimeError):  # type: ignore[no-redef]
        """The C wrapper could not be compiled."""

__all__ = ["HEADERS", "SOURCE", "WrapperBuild", "build_wrapper", "build_wrapper_info", "find_wrapper"]

SOURCE = Path(__file__).with_name("emissary.c")
HEADERS = tuple(Path(__file__).with_name(h) for h in ("util.h", "json.h", "targz.h"))
BINARY_NAME = "emissary"
_CFLAGS = ("-O2", "-Wall", "-Wno-format-truncation")


class WrapperBuild(NamedTuple):
    # a NamedTuple, not a dataclass: dataclasses need the module in sys.modules, and setup.py
    # loads this file by path
    path: Path
    static: bool


def _compiler(cc: str | None) -> str:
    found = shutil.which(cc or os.environ.get("CC") or "cc")
    if not found:
        raise WrapperBuildError(f"no C compiler found (tried {cc or os.environ.get('CC') or 'cc'!r}) to build {SOURCE}")
    return found


def _compile(cc: str, out: Path, *, static: bool) -> subprocess.CompletedProcess[str]:
    args = [cc, *(("-static",) if static else ()), *_CFLAGS, "-o", str(out), str(SOURCE)]
    return subprocess.run(args, capture_output=True, text=True, check=False)


def build_wrapper_info(out_dir: str | os.PathLike[str], /, *, name: str = "emissary", cc: str | None = None) -> WrapperBuild:
    """Build the wrapper into `out_dir/name`; static if the toolchain can, else dynamic."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / name
    tmp = out_dir / f".{name}.building"
    compiler = _compiler(cc)
    static = True
    proc = _compile(compiler, tmp, static=True)
    if proc.returncode != 0:
        # typically "cannot find -lc": no static libc installed
        static = False
        proc = _compile(compiler, tmp, static=False)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise WrapperBuildError(f"compiling {SOURCE} failed:\n{proc.stderr.strip()}")
    tmp.chmod(0o755)
    tmp.replace(out)  # atomic: a concurrent reader never runs a half-written binary
    return WrapperBuild(out, static)


def build_wrapper(out_dir: str | os.PathLike[str], /, *, name: str = "emissary", cc: str | None = None) -> Path:
    """Build the wrapper and return its path (see `build_wrapper_info` for static/dynamic)."""
    return build_wrapper_info(out_dir, name=name, cc=cc).path


def find_wrapper(env: "os._Environ[str] | dict[str, str] | None" = None, /) -> Path | None:
    """A wrapper binary to install: $TIPHYS_WRAPPER, else one built beside this file, else None."""
    env = os.environ if env is None else env
    explicit = env.get("TIPHYS_WRAPPER")
    if explicit:
        return Path(explicit)
    here = Path(__file__).with_name(BINARY_NAME)
    return here if here.is_file() and os.access(here, os.X_OK) else None
