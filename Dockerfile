# One image for every vnetlab service. The command names the service kind:
#   docker run vnetlab hypervisor --host host-a --topology /etc/vnetlab/topology.yaml ...
#   docker run vnetlab guest ...      (settings as flags or VNETLAB_* variables)
#   docker run vnetlab vnetlab render compose /etc/vnetlab/topology.yaml -o /out
# deploy/docker/entrypoint.sh maps the kind to apps/<kind>/dist/main.js.
FROM node:20-bookworm-slim AS build
WORKDIR /opt/vnetlab
ENV NX_DAEMON=false NX_NO_CLOUD=true
COPY . .
RUN npm ci --no-audit --no-fund --loglevel=error \
 && npx nx run-many -t build --outputStyle=static \
 && npm prune --omit=dev --no-audit --no-fund --loglevel=error

FROM node:20-bookworm-slim
WORKDIR /opt/vnetlab
ENV NODE_ENV=production VNETLAB_BIND=0.0.0.0 VNETLAB_LAB_DIR=/vnetlab/lab
COPY --from=build /opt/vnetlab/package.json /opt/vnetlab/package-lock.json ./
COPY --from=build /opt/vnetlab/node_modules node_modules
COPY --from=build /opt/vnetlab/libs libs
COPY --from=build /opt/vnetlab/apps apps
COPY --from=build /opt/vnetlab/examples examples
COPY deploy/docker/entrypoint.sh /usr/local/bin/vnetlab-entrypoint
RUN mkdir -p /vnetlab/lab /vnetlab/mem && chown -R node:node /vnetlab
USER node
ENTRYPOINT ["/usr/local/bin/vnetlab-entrypoint"]
CMD ["help"]
