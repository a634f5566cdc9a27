#!/usr/bin/env bash
# Installs what vnetlab needs on a fresh Debian machine (idempotent): nats-server, and for
# the deploy tests prometheus (up --with-prometheus), docker-compose (compose file check)
# and kubectl (kustomize build), and tshark (the capture test decodes vnetlab's pcap files
# with it) from Debian's packages, the npm workspace, and a build of every project.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need_apt+=(nats-server)
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
command -v kubectl >/dev/null 2>&1 || need_apt+=(kubernetes-client)
command -v tshark >/dev/null 2>&1 || need_apt+=(tshark)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} from Debian's packages" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  # without recommends: docker-compose would bring a docker engine, prometheus a node exporter;
  # noninteractive: wireshark-common's question (may non-root users capture?) takes its default
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

export NX_DAEMON=false NX_NO_CLOUD=true NX_SKIP_NX_CACHE=${NX_SKIP_NX_CACHE:-}
echo "setup: building" >&2
npx nx run-many -t build --outputStyle=static >/dev/null || npx nx run-many -t build --outputStyle=static
