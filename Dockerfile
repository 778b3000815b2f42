# The quizhub image: one image for every part (`serve`, `broker`, `hub`, `web`); docker-compose.yml picks the
# command. Build: docker build -t quizhub:local .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# What `pip install .` needs and nothing else (.dockerignore keeps tests, firmware, .venv and .git out).
COPY pyproject.toml README.md LICENSE ./
COPY schemas ./schemas
COPY broker ./broker
COPY hub ./hub
COPY web ./web
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin quizhub \
    && mkdir -p /data && chown quizhub:quizhub /data

USER quizhub
WORKDIR /data
ENV QUIZHUB_DATA_DIR=/data \
    QUIZHUB_HOST=0.0.0.0 \
    QUIZHUB_LOG_FORMAT=json

# 8000 web, 1883 MQTT and 9001 MQTT over WebSocket (serve/broker), 9100 the hub's --metrics-port.
EXPOSE 8000 1883 9001 9100
ENTRYPOINT ["quizhub"]
CMD ["serve"]
