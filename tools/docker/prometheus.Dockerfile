# prometheus.Dockerfile — the Prometheus server of docker-compose.yml's
# "monitoring" profile: Debian 12's own package (no registry is needed; the
# base image is the same debian:bookworm-slim the node image uses, which
# tools/compose.sh makes locally when no Docker daemon runs).
#
# The build context is tools/docker/: prometheus.yml (the scrape of n1..n3)
# and prometheus-entrypoint.sh (writes the nodes' read token where the
# scrape config reads it, then runs Prometheus as the user prometheus).
# Its data (the TSDB) is the volume /var/lib/prometheus.
#
#   docker build -f tools/docker/prometheus.Dockerfile -t quorumdns-prometheus tools/docker

FROM debian:bookworm-slim
ENV DEBIAN_FRONTEND=noninteractive
# policy-rc.d: the package's postinst must not try to start a service in
# the build.  No recommends: prometheus-node-exporter is not wanted here.
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d \
 && chmod 755 /usr/sbin/policy-rc.d \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends prometheus \
 && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
 && mkdir -p /var/lib/prometheus/metrics2 \
 && chown -R prometheus:prometheus /var/lib/prometheus \
 && prometheus --version
COPY prometheus.yml /etc/prometheus/prometheus.yml
COPY prometheus-entrypoint.sh /usr/local/bin/quorumdns-prometheus
RUN chmod 644 /etc/prometheus/prometheus.yml \
 && chmod 755 /usr/local/bin/quorumdns-prometheus \
 && promtool check config --syntax-only /etc/prometheus/prometheus.yml

VOLUME /var/lib/prometheus
EXPOSE 9090/tcp
STOPSIGNAL SIGTERM
ENTRYPOINT ["quorumdns-prometheus"]
CMD []
