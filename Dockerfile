# syntax=docker/dockerfile:1
#
# One image for both halves of tiphys: the controller (its ENTRYPOINT) and the executor
# that runs inside workflow pods (the controller starts `tiphys-executor` in it through
# `--executor-image`, overriding the entrypoint). Build from the repository root:
#
#   docker build -t quay.io/tiphys/tiphys:v0.1.0 .
#
# The builder compiles the Cython hot paths and the static main-container wrapper into
# one wheel; the final stage installs that wheel and has no compiler.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY core/ core/
COPY controller/ controller/
COPY executor/ executor/
COPY cli/ cli/
# The package's own wheel (Cython extensions + wrapper) and wheels of its dependencies.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .
# setup.py falls back to pure Python and skips the wrapper when a build step fails, which
# is right on a laptop and wrong for the image: insist on both here.
RUN python - <<'CHECK'
import glob, sys, zipfile
(wheel,) = glob.glob("/wheels/tiphys-*.whl")
names = set(zipfile.ZipFile(wheel).namelist())
fast = [n for n in names if n.startswith("tiphys/core/_fast/") and n.endswith(".so")]
missing = [] if fast else ["tiphys/core/_fast/*.so"]
missing += [n for n in ["tiphys/executor/wrapper/emissary"] if n not in names]
sys.exit(f"{wheel} lacks {missing}" if missing else 0)
CHECK

FROM ${PYTHON_IMAGE}
# UID/GID 8737: Argo's non-root executor UID, the Deployment's runAsUser and the executor
# containers' default runAsUser (core/plan/_podcontainers.py).
RUN groupadd --system --gid 8737 tiphys \
 && useradd --system --uid 8737 --gid 8737 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin tiphys
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels tiphys
# The root filesystem is read-only at run time: no .pyc writes, unbuffered logs.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TIPHYS_WRAPPER=/usr/local/lib/python3.11/site-packages/tiphys/executor/wrapper/emissary
# `init` copies the wrapper from $TIPHYS_WRAPPER into /var/run/argo of every workflow pod.
RUN test -x "$TIPHYS_WRAPPER" \
 && python -c "import tiphys.controller.main, tiphys.executor.__main__, tiphys.cli.main, tiphys.core._fast"
USER 8737:8737
ENTRYPOINT ["tiphys-controller"]
