# Prometheus from Debian's package, a stand-in for prom/prometheus where Docker Hub cannot be
# reached (the compose file takes it as VNETLAB_PROMETHEUS_IMAGE). Same entrypoint, paths
# and user as the upstream image, so the rendered command line works with either:
#   docker build -t vnetlab-prometheus -f deploy/docker/prometheus.Dockerfile deploy/docker
FROM debian:trixie-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /prometheus /etc/prometheus && chown nobody:nogroup /prometheus
USER nobody
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
