# syntax=docker/dockerfile:1
# Tuneloop's production image: one image for web, worker and worker-gpu (docker-compose.yml picks the command).
#   docker build -t tuneloop .                                   # CPU torch (web, default worker)
#   docker build -t tuneloop:gpu --build-arg TORCH_VARIANT=cu128 .   # CUDA torch for the training worker

# ---- front-end packages: npm at build time, only the vendored files reach the final image
FROM node:22-slim AS frontend
WORKDIR /src
COPY package.json package-lock.json ./
COPY scripts/vendor_frontend.sh scripts/vendor_frontend.sh
RUN bash scripts/vendor_frontend.sh && ls app/static/vendor/htmx.min.js

# ---- the application
FROM python:3.11-slim AS app
# cpu, or a CUDA wheel index tag such as cu128: which torch build the training stack runs on.
ARG TORCH_VARIANT=cpu
ARG TORCH_VERSION=2.13.0
# HF_HOME on the data volume: the non-root user cannot write to /app, and downloaded models should persist.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TUNELOOP_DATA_DIR=/data \
    HF_HOME=/data/hf-cache \
    PORT=8000

RUN groupadd --system --gid 10001 tuneloop \
 && useradd --system --uid 10001 --gid tuneloop --home-dir /app --shell /usr/sbin/nologin tuneloop \
 && mkdir -p /app /data && chown tuneloop:tuneloop /data

WORKDIR /app
# torch first and on its own, from the index of the chosen variant, so `.[train]` never pulls another build.
RUN pip install "torch==${TORCH_VERSION}" --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}"

COPY pyproject.toml README.md alembic.ini ./
COPY app app
COPY worker worker
COPY migrations migrations
COPY templates templates
COPY --from=frontend /src/app/static/vendor app/static/vendor
# Editable on purpose: the app finds templates/, migrations/ and alembic.ini next to its package in /app.
RUN pip install -e ".[train]" && tuneloop --help >/dev/null
# A CUDA image also gets the `gpu` extra (Liger Kernel's Triton kernels, which CUDA torch's triton runs).
RUN [ "$TORCH_VARIANT" = cpu ] || pip install -e ".[train,gpu]"

USER tuneloop
VOLUME ["/data"]
EXPOSE 8000
# The health endpoint checks the database and a broker round trip through a worker: 200 only when all answer.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/api/v1/health\", timeout=8)"]
ENTRYPOINT ["tuneloop"]
CMD ["serve", "--no-worker", "--host", "0.0.0.0"]
