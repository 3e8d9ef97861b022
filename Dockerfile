# clipper as an image: `scripts/image` builds it as clipper:latest (on local Debian bases when the public ones
# cannot be pulled), or by hand `docker build -t clipper:latest .`; then
#   docker run -p 1337:1337 -p 1338:1338 -e CLIPPER_TOKEN=... -v clipper-data:/data clipper:latest
# Stage 1 compiles the single ./clipper binary (Bun from npm, bun install, bun build: scripts/build's steps,
# without the venv and test tools scripts/bootstrap adds).
# Stage 2 is Python 3.11 with the runtime's pinned packages (the binary embeds the Python worker, not
# Python itself) plus the binary, running as an unprivileged user. compose.yaml and deploy/kubernetes use it.

# The bases are build arguments: any Debian bookworm image with Node.js and npm (build), and with Python 3.11
# and its venv module (runtime). Plain `docker build` steps (no BuildKit-only syntax), so Debian's engine
# builds it too.
ARG BUILD_BASE=node:20-bookworm
ARG RUNTIME_BASE=python:3.11-slim-bookworm

FROM ${BUILD_BASE} AS build
WORKDIR /src
# Dependencies first, so a source change does not reinstall Bun or node_modules. Bun's version is
# scripts/bootstrap's BUN_VERSION (a test checks they agree).
COPY package.json bun.lock bunfig.toml tsconfig.json ./
RUN npm install --silent --prefix=.tools --no-save --no-audit --no-fund bun@1.4.5 \
 && .tools/node_modules/bun/bin/bun.exe install --frozen-lockfile --silent
COPY src src
COPY runtimes runtimes
RUN .tools/node_modules/bun/bin/bun.exe build src/main.ts --compile --compile-autoload-package-json --minify --outfile clipper \
 && ./clipper --help >/dev/null

FROM ${RUNTIME_BASE}
# The interpreter clipper starts replicas with: the runtime's pinned packages (numpy, scikit-learn, uv for
# per-model environments, ...). uv is found next to this interpreter. The same two steps as
# runtimes/python/Dockerfile, so the two images share these layers.
COPY runtimes/python/requirements.txt /opt/clipper/requirements.txt
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r /opt/clipper/requirements.txt
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
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
