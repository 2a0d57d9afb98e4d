# syntax=docker/dockerfile:1
# The DictaMesh node image: ghcr.io/dictamesh/dictamesh:<version> (docs/deploy.md).
#
#   docker build -t ghcr.io/dictamesh/dictamesh:dev .                         # every extra
#   docker build --build-arg EXTRAS=postgres,kafka,redis,otel -t dictamesh:slim .
#   docker run --rm -p 127.0.0.1:8000:8000 ghcr.io/dictamesh/dictamesh:dev   # embedded node
#
# tests/deploy/test_dockerfile.py runs the builder's RUN lines as written here (outside
# Docker) and starts the node from the venv they make, so keep paths in ENV variables.

FROM python:3.11.15-slim-trixie AS builder

# pyproject's extras, comma-separated (postgres,kafka,redis,avro,otel,email,lineage,
# lineage-kafka,cloudevents), or "all"; empty: the core only (embedded bus and catalog).
ARG EXTRAS=all
# More requirements from the package index, installed beside it (space-separated, so left
# unquoted below): adapter plugins of group dictamesh.adapters, e.g. "my-adapter==1.2".
ARG PACKAGES=
ENV VENV=/opt/dictamesh \
    WHEELS=/tmp/wheels \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# hatchling (the build backend) runs in pip's isolated build environment, never in the venv.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --no-deps --wheel-dir "$WHEELS" .
# The base image's pip installs into a venv that has no pip, setuptools or wheel of its own:
# installers are not needed at run time, and are what image scanners flag most.
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv --without-pip "$VENV" \
    && wheel=$(ls "$WHEELS"/dictamesh-*.whl) \
    && pip --python "$VENV/bin/python" install "${wheel}${EXTRAS:+[$EXTRAS]}" $PACKAGES \
    && "$VENV/bin/dictamesh" --version

# Same base as the builder: the venv's python is a link to this image's /usr/local/bin/python.
FROM python:3.11.15-slim-trixie

ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="DictaMesh" \
      org.opencontainers.image.description="A data mesh framework: adapters, event bus, metadata catalog and federated GraphQL" \
      org.opencontainers.image.source="https://github.com/dictamesh/dictamesh" \
      org.opencontainers.image.url="https://github.com/dictamesh/dictamesh" \
      org.opencontainers.image.documentation="https://github.com/dictamesh/dictamesh/blob/main/docs/deploy.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="DictaMesh" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

# A fixed uid/gid, so Kubernetes' runAsUser/fsGroup and volume ownership can name it.
# The base image's own installers go too: the node runs from the venv, which never sees them.
RUN groupadd --system --gid 10001 dictamesh \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /var/lib/dictamesh --shell /usr/sbin/nologin dictamesh \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/dictamesh \
    && install -d -m 0755 /etc/dictamesh \
    && python -m pip uninstall --yes --root-user-action=ignore pip setuptools wheel

COPY --from=builder /opt/dictamesh /opt/dictamesh
COPY deploy/image/mesh.yaml /etc/dictamesh/mesh.yaml

# The only writable path (the chart mounts a volume here and runs a read-only root): the
# state_dir, and the working directory, so relative paths of mesh.yaml (bus.path, a SQLite
# catalog) land in it too. api.host/api.port come from here: the environment beats mesh.yaml.
ENV PATH=/opt/dictamesh/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/dictamesh \
    DICTAMESH_STATE_DIR=/var/lib/dictamesh \
    DICTAMESH_API__HOST=0.0.0.0 \
    DICTAMESH_API__PORT=8000
WORKDIR /var/lib/dictamesh
VOLUME ["/var/lib/dictamesh"]
USER 10001:10001
EXPOSE 8000

# No curl in slim images: the stdlib asks /health (liveness; /ready is for load balancers).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('DICTAMESH_API__PORT', '8000'), timeout=4)"]

ENTRYPOINT ["dictamesh"]
CMD ["serve", "-c", "/etc/dictamesh/mesh.yaml"]
