# syntax=docker/dockerfile:1
# l3a: the service (`l3a serve`), and with another command a dask scheduler or worker.
# One image for all three, so the client and the workers run the same versions of dask,
# distributed, numpy and GDAL (a mismatch makes dask refuse or mis-read pickled tasks).
#
#   docker build -t l3a .
#   docker run -p 8000:8000 -v l3a-data:/data l3a
#   docker run l3a dask scheduler            |   docker run l3a dask worker tcp://HOST:8786
#
# Runtime packages are exactly those of `pip install .` (pyproject.toml's dependencies, the
# ones .ci/run installs too, without the [test] extra). No Debian library is added: the
# rasterio, pyproj, numpy and scipy wheels bundle GDAL, PROJ and their own libraries, and
# Chromium is for the browser tests only.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: the project and its dependencies installed into a virtualenv --------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/l3a
ENV PATH=/opt/l3a/bin:$PATH
WORKDIR /src
# Only what the package is made of (.dockerignore keeps tests, data and caches out).
COPY pyproject.toml README.md ./
COPY api ./api
COPY catalog ./catalog
COPY engine ./engine
RUN python -m pip install .

# --- runtime: the virtualenv on a slim base, as a non-root user ------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="l3a" \
      org.opencontainers.image.description="Sentinel-2 Level-3A mosaics on demand"
# numba caches the synthesis kernel it compiles at start-up; the installed package is not
# writable by the service's user, and an arbitrary uid may have no home: /tmp always is.
ENV PATH=/opt/l3a/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NUMBA_CACHE_DIR=/tmp/l3a-numba-cache \
    L3A_DATA_DIR=/data
# A fixed numeric uid, so that Kubernetes' runAsNonRoot can check it and a shared volume
# can be given to it (fsGroup, or chown 10001 on an NFS export).
RUN groupadd --system --gid 10001 l3a \
    && useradd --system --uid 10001 --gid l3a --create-home --home-dir /home/l3a l3a \
    && mkdir /data \
    && chown l3a:l3a /data
COPY --from=builder /opt/l3a /opt/l3a
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# The API's health: its conformance page answers without touching the job store or dask.
# Scheduler and worker containers override it (see compose.yaml).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/conformance', timeout=4)"]
CMD ["l3a", "serve", "--host", "0.0.0.0"]
