# Prometheus from Debian's package, for machines that cannot pull prom/prometheus: BASE is a
# Debian bookworm image (deploy/compose/build-local-images.sh imports one as
# skiff/python:bookworm). Elsewhere, set SKIFF_PROMETHEUS_IMAGE=prom/prometheus instead.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
# policy-rc.d: the package's scripts must not try to start a service during the build.
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus \
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
    && mkdir -p /prometheus && chown prometheus:prometheus /prometheus
USER prometheus
VOLUME ["/prometheus"]
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus", \
     "--web.listen-address=0.0.0.0:9090"]
