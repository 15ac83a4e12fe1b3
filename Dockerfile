# Asset Service: the HTTP API on port 8000, data under /var/lib/asset-service (a volume).
#   docker build -t asset-service .
#   docker run -p 8000:8000 -e ASSET_JWT_SECRET=... -v asset-data:/var/lib/asset-service asset-service
# Every ASSET_* setting can be passed with -e (see README.md, "Configuration").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# ffprobe (from ffmpeg) is what the video plugin reads metadata with.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 asset \
    && useradd --system --uid 10001 --gid asset --home-dir /nonexistent --shell /usr/sbin/nologin asset \
    && mkdir -p /var/lib/asset-service \
    && chown asset:asset /var/lib/asset-service

WORKDIR /app
COPY pyproject.toml README.md ./
COPY asset_service ./asset_service
RUN pip install . && rm -rf build *.egg-info
COPY plugins.toml ./

USER asset
ENV ASSET_HOST=0.0.0.0 \
    ASSET_PORT=8000 \
    ASSET_WORKERS=auto \
    ASSET_DATA_DIR=/var/lib/asset-service \
    ASSET_PLUGINS_CONFIG=/app/plugins.toml
VOLUME ["/var/lib/asset-service"]
EXPOSE 8000

# No curl in the slim image: ask /healthz with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('ASSET_PORT', '8000') + '/healthz', timeout=4)"]

# SIGTERM: every worker finishes its requests in flight (up to 30 s), then its engine stops.
STOPSIGNAL SIGTERM
CMD ["asset-service", "serve"]
