# One image for every vnetlab service. The command names the service kind:
#   docker run vnetlab hypervisor --host host-a --topology /etc/vnetlab/topology.yaml ...
#   docker run vnetlab guest ...      (settings as flags or VNETLAB_* variables)
#   docker run vnetlab nats-server -c /etc/nats/nats.conf -js   (the lab's message bus)
#   docker run vnetlab vnetlab render compose /etc/vnetlab/topology.yaml -o /out
# deploy/docker/entrypoint.sh maps the kind to apps/<kind>/dist/main.js.
#
# Everything comes from Debian's packages (Node 20, nats-server) and the npm registry. Where
# Docker Hub cannot be reached, scripts/base-image.sh builds the base tag from Debian's mirror.
FROM debian:trixie-slim AS build
# EXTRA_CA_CERTS: PEM certificates to trust while building, for a network whose proxy
# re-signs TLS (--build-arg EXTRA_CA_CERTS="$(cat proxy-ca.crt)"). Only this stage sees them.
ARG EXTRA_CA_CERTS=
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm ca-certificates >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && if [ -n "$EXTRA_CA_CERTS" ]; then printf '%s\n' "$EXTRA_CA_CERTS" > /usr/local/share/ca-certificates/build-extra.crt && update-ca-certificates >/dev/null; fi
WORKDIR /opt/vnetlab
ENV NX_DAEMON=false NX_NO_CLOUD=true NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
COPY . .
RUN npm ci --no-audit --no-fund --loglevel=error \
 && npx nx run-many -t build --exclude=@vnetlab/test --outputStyle=static \
 && npm prune --omit=dev --no-audit --no-fund --loglevel=error

FROM debian:trixie-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs nats-server >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /vnetlab --shell /usr/sbin/nologin vnetlab
WORKDIR /opt/vnetlab
# VNETLAB_HOME: the CLI inside a container (docker exec ... vnetlab status) finds the lab the
# operator there writes
ENV NODE_ENV=production VNETLAB_BIND=0.0.0.0 VNETLAB_LAB_DIR=/vnetlab/lab VNETLAB_HOME=/vnetlab/lab
COPY --from=build /opt/vnetlab/package.json /opt/vnetlab/package-lock.json ./
COPY --from=build /opt/vnetlab/node_modules node_modules
COPY --from=build /opt/vnetlab/libs libs
COPY --from=build /opt/vnetlab/apps apps
COPY --from=build /opt/vnetlab/examples examples
COPY deploy/docker/entrypoint.sh /usr/local/bin/vnetlab-entrypoint
# `vnetlab` on the PATH: docker exec CONTAINER vnetlab status
RUN ln -s /opt/vnetlab/apps/controller/dist/cli.js /usr/local/bin/vnetlab && chmod +x /opt/vnetlab/apps/controller/dist/cli.js \
 && mkdir -p /vnetlab/lab /vnetlab/mem /vnetlab/nats && chown -R vnetlab:vnetlab /vnetlab
USER vnetlab
ENTRYPOINT ["/usr/local/bin/vnetlab-entrypoint"]
CMD ["help"]
