#!/usr/bin/env bash
# Router topology: host A <-> gateway (two ports) <-> host B, in three network
# namespaces named with a caller-chosen prefix.
#
#   PREFIX-a  [a0] 198.18.1.2/24 2001:2:0:1::2/64
#               |
#   PREFIX-gw [xgw0] 198.18.1.1/24 2001:2:0:1::1/64
#             [xgw1] 198.18.2.1/24 2001:2:0:2::1/64
#               |
#   PREFIX-b  [b0] 198.18.2.2/24 2001:2:0:2::2/64
#
# The host ends run an XDP program that counts and passes (bpf/peer.bpf.c):
# a veth only delivers frames redirected into it by XDP when its peer has an
# XDP program attached.
#
# usage: router-topology.sh up|down PREFIX [PEER_BPF_OBJECT]
set -euo pipefail

cmd=${1:?usage: $0 up|down PREFIX [PEER_BPF_OBJECT]}
prefix=${2:?usage: $0 up|down PREFIX [PEER_BPF_OBJECT]}
peer_obj=${3:-}

ns_a=$prefix-a
ns_gw=$prefix-gw
ns_b=$prefix-b

down() {
  local ns
  for ns in "$ns_a" "$ns_gw" "$ns_b"; do
    ip netns del "$ns" 2>/dev/null || true
  done
}

up() {
  down
  ip netns add "$ns_a"
  ip netns add "$ns_gw"
  ip netns add "$ns_b"
  for ns in "$ns_a" "$ns_gw" "$ns_b"; do
    ip -n "$ns" link set lo up
  done

  ip -n "$ns_gw" link add xgw0 type veth peer name a0 netns "$ns_a"
  ip -n "$ns_gw" link add xgw1 type veth peer name b0 netns "$ns_b"

  ip -n "$ns_gw" addr add 198.18.1.1/24 dev xgw0
  ip -n "$ns_gw" addr add 2001:2:0:1::1/64 dev xgw0 nodad
  ip -n "$ns_gw" addr add 198.18.2.1/24 dev xgw1
  ip -n "$ns_gw" addr add 2001:2:0:2::1/64 dev xgw1 nodad
  ip -n "$ns_a" addr add 198.18.1.2/24 dev a0
  ip -n "$ns_a" addr add 2001:2:0:1::2/64 dev a0 nodad
  ip -n "$ns_b" addr add 198.18.2.2/24 dev b0
  ip -n "$ns_b" addr add 2001:2:0:2::2/64 dev b0 nodad

  # Hosts compute their own checksums. With TX checksum offload on, a veth
  # hands the peer a CHECKSUM_PARTIAL packet whose L4 checksum a real NIC
  # would fill in on the wire; XDP redirects the raw frame, so the far host
  # would get it unfinished and drop TCP/UDP (ping still works).
  ip netns exec "$ns_a" ethtool -K a0 tx off >/dev/null
  ip netns exec "$ns_b" ethtool -K b0 tx off >/dev/null

  ip -n "$ns_gw" link set xgw0 up
  ip -n "$ns_gw" link set xgw1 up
  ip -n "$ns_a" link set a0 up
  ip -n "$ns_b" link set b0 up

  ip -n "$ns_a" route add default via 198.18.1.1
  ip -n "$ns_a" -6 route add default via 2001:2:0:1::1
  ip -n "$ns_b" route add default via 198.18.2.1
  ip -n "$ns_b" -6 route add default via 2001:2:0:2::1

  # bpf_fib_lookup needs forwarding enabled even when XDP does the work.
  ip netns exec "$ns_gw" sysctl -q -w net.ipv4.ip_forward=1
  ip netns exec "$ns_gw" sysctl -q -w net.ipv6.conf.all.forwarding=1

  if [[ -n $peer_obj ]]; then
    ip -n "$ns_a" link set dev a0 xdpdrv obj "$peer_obj" sec xdp
    ip -n "$ns_b" link set dev b0 xdpdrv obj "$peer_obj" sec xdp
  fi
}

case $cmd in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down PREFIX [PEER_BPF_OBJECT]" >&2; exit 2 ;;
esac
