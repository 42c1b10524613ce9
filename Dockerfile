FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY reference_server ./reference_server
COPY openapi ./openapi
COPY simulator ./simulator
RUN pip install --no-cache-dir . && useradd --create-home smsgate && mkdir /data && chown smsgate /data

USER smsgate
WORKDIR /data
ENV HTTP__LISTEN=:3000
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s CMD ["smsgate-server", "health"]
# `serve` upgrades the database before it starts listening.
CMD ["smsgate-server", "serve"]
