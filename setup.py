"""Build script: maps the top-level folders into the `tiphys` namespace and builds core/_fast.

The Cython extensions are optional: without Cython or a C compiler the install still works on
the pure-Python reference implementations, and `tiphys.core._fast` says so once at import.
Flags (environment): TIPHYS_FASTDEBUG=1 builds with bounds checks, linetrace and annotation.
"""
import os
import sys

from setuptools import setup, find_packages
from setuptools.command.build_ext import build_ext

# Top-level folder -> subpackage of the `tiphys` namespace.
TOP_LEVEL = {"core": "tiphys.core", "controller": "tiphys.controller",
             "executor": "tiphys.executor", "cli": "tiphys.cli"}


def _packages():
    package_dir, packages = {}, []
    for folder, name in TOP_LEVEL.items():
        if not os.path.isdir(folder):
            continue
        package_dir[name] = folder
        packages.append(name)
        for sub in find_packages(folder):
            packages.append(f"{name}.{sub}")
            package_dir[f"{name}.{sub}"] = os.path.join(folder, *sub.split("."))
    return package_dir, packages


def _extensions():
    sources = sorted(f for f in os.listdir("core/_fast") if f.endswith(".pyx")) if os.path.isdir("core/_fast") else []
    if not sources:
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("tiphys: Cython not available; installing the pure-Python fallbacks", file=sys.stderr)
        return []
    from setuptools import Extension
    debug = os.environ.get("TIPHYS_FASTDEBUG") == "1"
    directives = {"language_level": 3, "boundscheck": debug, "wraparound": debug,
                  "initializedcheck": debug, "cdivision": True, "linetrace": debug}
    macros = [("CYTHON_TRACE_NOGIL", "1")] if debug else []
    exts = [Extension(f"tiphys.core._fast.{src[:-4]}", [os.path.join("core/_fast", src)],
                      extra_compile_args=["-O3"] if not debug else ["-O0", "-g"], define_macros=macros)
            for src in sources]
    # Cython finds a module's own .pxd by its dotted name from an include directory; give it one
    # where tiphys/core/_fast is core/_fast (setuptools' package_dir mapping is invisible to it).
    stage = os.path.join("build", "cython-include")
    os.makedirs(os.path.join(stage, "tiphys", "core"), exist_ok=True)
    for pkg in ("tiphys", os.path.join("tiphys", "core")):
        open(os.path.join(stage, pkg, "__init__.py"), "a").close()
    link = os.path.join(stage, "tiphys", "core", "_fast")
    if not os.path.lexists(link):
        os.symlink(os.path.abspath(os.path.join("core", "_fast")), link)
    return cythonize(exts, compiler_directives=directives, annotate=debug, quiet=True, include_path=[stage])


def _build_wrapper(out_dir):
    """The static main-container wrapper (executor/wrapper/emissary.c), built with the system cc."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_tiphys_wrapper_build", os.path.join("executor", "wrapper", "build.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_wrapper(out_dir)


class OptionalBuildExt(build_ext):
    """Build the extensions if a compiler is present; otherwise fall back to pure Python."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler, missing headers: the fallbacks still work
            print(f"tiphys: native extensions not built ({exc}); using pure-Python fallbacks", file=sys.stderr)
        inplace = self.inplace or getattr(self, "editable_mode", False)
        out_dir = os.path.join("executor", "wrapper") if inplace else \
            os.path.join(self.build_lib, "tiphys", "executor", "wrapper")
        try:
            os.makedirs(out_dir, exist_ok=True)
            _build_wrapper(out_dir)
        except Exception as exc:  # no cc: the executor still works where a wrapper is supplied
            print(f"tiphys: main-container wrapper not built ({exc})", file=sys.stderr)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            print(f"tiphys: extension {ext.name} not built ({exc}); using pure-Python fallback", file=sys.stderr)


package_dir, packages = _packages()
setup(
    package_dir=package_dir,
    packages=packages,
    package_data={"tiphys.core": ["py.typed", "**/*.pyi", "**/*.pxd", "**/*.pxi", "**/*.pyx", "**/*.zdict"],
                  "tiphys.executor.wrapper": ["*.c", "*.h", "emissary"]},
    ext_modules=_extensions(),
    cmdclass={"build_ext": OptionalBuildExt},
    zip_safe=False,
)
