# The Skiff daemon. BASE is any image with Python 3.11+ and venv, e.g. python:3.11-slim or a
# Debian root file system imported with `docker import`.
ARG BASE=python:3.11-slim
FROM ${BASE}
# HAProxy is the load balancers' data plane; the daemon starts and supervises it.
RUN apt-get update && apt-get install -y --no-install-recommends haproxy \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY controller ./controller
RUN python3 -m venv /opt/skiff && /opt/skiff/bin/pip install --no-cache-dir . && rm -rf /src
ENV PATH=/opt/skiff/bin:$PATH
VOLUME ["/var/lib/skiff"]
# The API listens on every interface of the container, so a published port reaches it; the
# daemon allows that only with a token the operator chose: run with -e SKIFF_TOKEN (or add
# --token-file FILE). Publish it on the host's loopback only: -p 127.0.0.1:9464:9464 (with
# docker.sock mounted, the API is root on the host). No EXPOSE, so `docker run -P` cannot
# publish it on every interface. See README.md, "Security".
ENTRYPOINT ["skiff"]
CMD ["run", "--manifests", "/manifests", "--data-dir", "/var/lib/skiff", "--listen", "0.0.0.0:9464"]
