# The gateway as the public ingress: ports 80 and 443, ops (metrics, health) on 9090.
# Build: docker build -t billing-gateway .   Run: see docker-compose.yml and README.
# BASE_IMAGE: any Debian image with python3 (and venv) at /usr/local/bin/python3; the test
# suite builds on one it makes with debootstrap, as no registry is needed there.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY kernel ./kernel
COPY gateway ./gateway
COPY certs ./certs
COPY billing ./billing
COPY web ./web
COPY portal ./portal
COPY checkout ./checkout
# Babel (a dependency) compiles the gettext catalogues into the installed package.
RUN /opt/venv/bin/pip install babel \
    && /opt/venv/bin/pybabel compile -d web/locale -D messages \
    && /opt/venv/bin/pip install .

FROM ${BASE_IMAGE}
# Pango and HarfBuzz for WeasyPrint's invoice PDFs, and one font family to draw them with.
# setcap lets the unprivileged user bind 80 and 443: the capability sits on the interpreter
# file (kept after libcap2-bin is removed), so no root process and no authbind are needed.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core libcap2-bin \
    && setcap cap_net_bind_service=+ep "$(readlink -f /usr/local/bin/python3)" \
    && apt-get purge -y libcap2-bin \
    && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/gateway --create-home \
        --shell /usr/sbin/nologin gateway
COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    GATEWAY_HTTP_HOST=0.0.0.0 \
    GATEWAY_HTTP_PORT=80 \
    GATEWAY_HTTPS_PORT=443 \
    GATEWAY_OPS_HOST=0.0.0.0 \
    GATEWAY_OPS_PORT=9090 \
    GATEWAY_DATA_DIR=/var/lib/gateway

USER gateway
WORKDIR /var/lib/gateway
EXPOSE 80 443 9090

# /healthz on the ops port: the process answers. No curl in the image; Python is there.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('GATEWAY_OPS_PORT', '9090'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["gateway", "serve"]
