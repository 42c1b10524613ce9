# One image for the three programs: smsgate-server, smsgate-ca, smsgate-sim, smsgate-conformance.
#   docker build -t smsgate-reference .
#   docker run -d -p 127.0.0.1:3000:3000 -v smsgate-data:/data smsgate-reference
# BASE_IMAGE: any Debian-like image with python3 (>= 3.11, with venv) and useradd; `nox -s image` builds one
# from Debian packages.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
# A CA bundle for pip where PyPI is reached through a TLS-inspecting proxy (a path mounted into the build).
ARG PIP_CERT_FILE=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/smsgate
# Dependencies first, from the pinned lock with hashes (`nox -s lock`): a change of the sources reuses this layer.
COPY deploy/image/requirements.lock /tmp/requirements.lock
RUN ${PIP_CERT_FILE:+env PIP_CERT=$PIP_CERT_FILE} \
    /opt/smsgate/bin/pip install --require-hashes --no-deps -r /tmp/requirements.lock
COPY pyproject.toml README.md /src/
COPY reference_server /src/reference_server
COPY simulator /src/simulator
COPY conformance /src/conformance
COPY openapi /src/openapi
RUN /opt/smsgate/bin/pip install --no-deps --no-build-isolation /src \
    && /opt/smsgate/bin/pip check

FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="smsgate-reference" \
      org.opencontainers.image.description="SMSGate reference server, fleet simulator and conformance suite" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/android-sms-gateway/server"
RUN useradd --uid 1000 --user-group --home-dir /data --no-create-home smsgate \
    && mkdir /data && chown smsgate:smsgate /data
COPY --from=build /opt/smsgate /opt/smsgate
ENV PATH=/opt/smsgate/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HTTP__LISTEN=:3000
USER 1000:1000
WORKDIR /data
# The SQLite database (the default) lives here: mount a volume or it goes with the container.
VOLUME /data
EXPOSE 3000
# The start period covers a long migration on start.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5m --retries=3 CMD ["smsgate-server", "health"]
# No entrypoint: `docker run IMAGE smsgate-sim run ...` runs another of the programs.
CMD ["smsgate-server", "serve"]
