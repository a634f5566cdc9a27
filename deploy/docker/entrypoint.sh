#!/bin/sh
# Entrypoint of the vnetlab image: the first argument is the service kind to run, the rest
# are its flags (every flag also has a VNETLAB_* variable, see `<kind> --help`).
set -e
root=/opt/vnetlab
kind="${1:-help}"
[ $# -gt 0 ] && shift
case "$kind" in
  hypervisor|nic|driver-domain|guest|fabric|controller|host)
    exec node "$root/apps/$kind/dist/main.js" "$@" ;;
  vnetlab)
    exec node "$root/apps/controller/dist/cli.js" "$@" ;;
  operator)
    # the operator API of a lab whose services run as containers (compose, Kubernetes)
    exec node "$root/apps/controller/dist/deployed_main.js" "$@" ;;
  nats-server)
    # the lab's message bus: Debian's nats-server, the one a local lab runs too
    exec nats-server "$@" ;;
  help|--help|-h)
    echo "usage: docker run IMAGE KIND [flags]"
    echo "  KIND: hypervisor | nic | driver-domain | guest | fabric | controller | host (a whole host in one process)"
    echo "        | operator (the operator API of a lab deployed as containers) | nats-server | vnetlab (the CLI)"
    echo "  flags: KIND --help lists them; each is also read from a VNETLAB_* variable"
    exit 0 ;;
  *)
    echo "vnetlab image: unknown service kind \"$kind\" (run with help)" >&2
    exit 2 ;;
esac
