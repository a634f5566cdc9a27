#!/usr/bin/env bash
# The demo: set up, bring up the two-host lab, ping within a host and across hosts, run a
# UDP and a TCP bulk transfer across hosts, show the figures, and bring the lab down.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
vnetlab() { node apps/controller/dist/cli.js "$@"; }
trap 'vnetlab down >/dev/null 2>&1 || true' EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
step "vnetlab up examples/two-hosts.yaml"
vnetlab up examples/two-hosts.yaml
step "vnetlab status"
vnetlab status
step "ping within host-a: vm-a1 → vm-a2"
vnetlab ping vm-a1 vm-a2 --count 3
step "ping across hosts: vm-a1 → vm-b1"
vnetlab ping vm-a1 vm-b1 --count 3
step "UDP bulk across hosts: vm-a1 → vm-b1, 4 MB"
vnetlab bulk vm-a1 vm-b1 --proto udp --bytes 4000000
step "TCP bulk across hosts: vm-a2 → vm-b2 (page-flip receiver), 4 MB"
vnetlab bulk vm-a2 vm-b2 --proto tcp --bytes 4000000
step "vnetlab down"
vnetlab down
trap - EXIT
