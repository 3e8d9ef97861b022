# syntax=docker/dockerfile:1
# clipper as an image: `docker build -t clipper .` then
#   docker run -p 1337:1337 -p 1338:1338 -e CLIPPER_TOKEN=... -v clipper-data:/data clipper
# Stage 1 runs scripts/build (Bun from npm, bun install, Python venv) to produce the single ./clipper binary.
# Stage 2 is Python 3.11 with the runtime's pinned packages (the binary embeds the Python worker, not
# Python itself) plus the binary, running as an unprivileged user. compose.yaml and deploy/kubernetes use it.

FROM node:20-bookworm AS build
# scripts/bootstrap needs python3-venv for its .venv and installs wrk (for scripts/bench) when missing;
# installing both here keeps that step out of the cached layers below. Versions come from the base image's
# Debian release (pinning them breaks the build when the archive moves on).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-venv wrk \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so a source change does not reinstall Bun, node_modules or the venv.
COPY package.json bun.lock bunfig.toml tsconfig.json ./
COPY scripts/bootstrap scripts/build scripts/
COPY runtimes/python/requirements.txt runtimes/python/requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip \
    --mount=type=cache,target=/root/.npm \
    scripts/bootstrap
COPY src src
COPY runtimes runtimes
RUN scripts/build && ./clipper --help >/dev/null

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The interpreter clipper starts replicas with: the runtime's pinned packages (numpy, scikit-learn, uv for
# per-model environments, ...). uv is found next to this interpreter.
COPY runtimes/python/requirements.txt /opt/clipper/requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv /opt/venv \
 && /opt/venv/bin/pip install -r /opt/clipper/requirements.txt
RUN groupadd --system --gid 10001 clipper \
 && useradd --system --uid 10001 --gid clipper --create-home --home-dir /home/clipper --shell /usr/sbin/nologin clipper \
 && mkdir -p /data \
 && chown clipper:clipper /data
COPY --from=build /src/clipper /usr/local/bin/clipper
ENV PATH=/opt/venv/bin:$PATH \
    CLIPPER_HOST=0.0.0.0 \
    CLIPPER_DATA_DIR=/data \
    CLIPPER_PYTHON=/opt/venv/bin/python
# The registry (SQLite), uploaded artifacts, logs and per-model environments: keep it across restarts.
VOLUME /data
WORKDIR /data
USER 10001:10001
# 1337: query API (/{app}/predict, /health, /ready, /metrics); 1338: management API (bearer token).
EXPOSE 1337 1338
# No curl in the slim image: Python asks /health (liveness; /ready says whether the models are up).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('CLIPPER_QUERY_PORT', '1337'), timeout=2)"]
ENTRYPOINT ["clipper", "serve"]
