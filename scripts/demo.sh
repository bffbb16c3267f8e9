#!/usr/bin/env bash
# README command 1: set up a fresh machine, build, and show xdpgw routing real
# packets between two hosts through a gateway namespace, in XDP.
#
#   xdpgw-demo-a (198.18.1.2) -- xdpgw-demo-gw [xdpgw] -- xdpgw-demo-b (198.18.2.2)
#
# Sends pings (IPv4, IPv6) and a 20 MB TCP transfer (content checked), then
# prints the gateway's counters: fwd_redirect proves XDP forwarded the
# packets; the kernel's own forwarding counter is shown beside it. Cleans up
# on exit or Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=xdpgw-demo
config=${XDPGW_DEMO_CONFIG:-$root/config/router.toml}
xdpgw=$root/build/gateway/xdpgw
instance=$(sed -n 's/^instance *= *"\(.*\)".*/\1/p' "$config" | head -1)
tmp=$(mktemp -d)
daemon_pid=

cleanup() {
  if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid"
    wait "$daemon_pid" || true
  fi
  # A stopped daemon leaves XDP forwarding; the demo removes it for good.
  [[ -x $xdpgw && -n $instance ]] && "$xdpgw" stop --instance "$instance" --detach 2>/dev/null || true
  "$root/scripts/netns/router-topology.sh" down "$prefix"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }

step "installing dependencies and building"
"$root/scripts/build.sh"

step "creating the topology (namespaces $prefix-a, $prefix-gw, $prefix-b)"
"$root/scripts/netns/router-topology.sh" up "$prefix" "$root/build/bpf/xdpgw_peer.bpf.o"

step "starting xdpgw in $prefix-gw with $config"
"$xdpgw" check -c "$config" --netns "$prefix-gw"
"$xdpgw" run -c "$config" --netns "$prefix-gw" --fresh 2>"$tmp/daemon.log" &
daemon_pid=$!
for _ in $(seq 50); do
  grep -q "running" "$tmp/daemon.log" && break
  kill -0 "$daemon_pid" 2>/dev/null || { cat "$tmp/daemon.log"; exit 1; }
  sleep 0.1
done
cat "$tmp/daemon.log"
fwd_before=$(ip netns exec "$prefix-gw" nstat -az IpForwDatagrams 2>/dev/null | awk '/Forw/ {print $2}' || echo 0)

step "ping A -> B over IPv4 and IPv6"
ip netns exec "$prefix-a" ping -c 5 -i 0.2 -W 1 198.18.2.2
ip netns exec "$prefix-a" ping -6 -c 5 -i 0.2 -W 1 2001:2:0:2::2

step "20 MB TCP transfer A -> B, content verified"
head -c 20M /dev/urandom >"$tmp/sent"
ip netns exec "$prefix-b" socat -u TCP-LISTEN:5001,reuseaddr "OPEN:$tmp/received,creat,trunc" &
listener=$!
sleep 0.3
ip netns exec "$prefix-a" socat -u "OPEN:$tmp/sent" TCP:198.18.2.2:5001
wait "$listener"
if cmp -s "$tmp/sent" "$tmp/received"; then
  echo "received 20 MB intact ($(sha256sum <"$tmp/received" | cut -c1-16)...)"
else
  echo "TRANSFER CORRUPTED" >&2
  exit 1
fi

step "what the gateway says about its ports (xdpgw status --instance $instance)"
"$xdpgw" status --instance "$instance"

step "what the gateway counted (xdpgw stats --instance $instance)"
"$xdpgw" stats --instance "$instance"
echo
echo "fwd_redirect above = packets XDP rewrote and redirected between ports."
echo "pass_* = packets handed to the kernel on purpose (ARP/ND, local, ...)."
echo "IPv4 packets the kernel forwarded itself meanwhile: $(( $(ip netns exec "$prefix-gw" nstat -az IpForwDatagrams 2>/dev/null | awk '/Forw/ {print $2}' || echo 0) - ${fwd_before:-0} ))"
