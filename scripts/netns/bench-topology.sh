#!/usr/bin/env bash
# Benchmark topology: one generator namespace, one sink namespace, and
# between them one gateway namespace per forwarding path under test, so every
# path exists at once and a benchmark can alternate between them without
# re-attaching anything (noise then hits all paths alike).
#
#   PREFIX-gen                      PREFIX-P (one per path P)              PREFIX-sink
#   [g-P] ---------------- [xgw0] 198.18.1.1/24 2001:2:0:1::1/64
#                          [xgw1] 198.18.2.1/24 2001:2:0:2::1/64 ---------- [s-P]
#
# The path named "direct" has no gateway: [g-direct] is cabled straight to
# [s-direct] (the generator's own ceiling).
#
# The generator namespace also holds an injection veth pair [xi0]-[xi1] for
# generators that cannot send xdp_frames themselves (bench/gen/generator.hpp):
# they inject into xi0, the generator's XDP program on xi1 rewrites each
# frame and redirects it out of g-P, so the gateway still receives
# xdp_frames. Kernels with BPF live frames do not use it.
#
# Generator and sink ends carry no addresses and no IPv6 (nothing of their
# own crosses a link): the generator writes complete frames, the sink is an
# XDP program that drops (attached by the benchmark, not here). The gateway forwards with ip_forward /
# IPv6 forwarding on (bpf_fib_lookup needs them even when XDP forwards) and
# with permanent neighbour entries for the hosts behind its ports, because an
# XDP_DROP sink never answers ARP or neighbour solicitations:
#   198.18.1.2, 2001:2:0:1::2 -> MAC of g-P   (the generator side)
#   198.18.2.2, 2001:2:0:2::2 -> MAC of s-P   (the sink side)
# MACs are fixed: 02:b0:NN:00:00:0X with NN the path's position (1-based),
# X = 1 g-P, 2 xgw0, 3 xgw1, 4 s-P.
#
# usage: bench-topology.sh up PREFIX PATH...   (PATH: [a-z0-9]{1,13})
#        bench-topology.sh down PREFIX
# `down` removes every namespace named PREFIX-*, so it also cleans up after
# an `up` that failed half way.
set -euo pipefail

usage() { echo "usage: $0 up PREFIX PATH... | down PREFIX" >&2; exit 2; }
cmd=${1:-}
prefix=${2:-}
[[ -n $cmd && -n $prefix ]] || usage
shift 2

down() {
  local ns
  for ns in $(ip netns list | awk '{print $1}'); do
    [[ $ns == "$prefix"-* ]] && ip netns del "$ns" 2>/dev/null || true
  done
}

mac_of() { printf '02:b0:%02x:00:00:%02x' "$1" "$2"; }

add_path() {
  local path=$1 index=$2
  local gen=$prefix-gen sink=$prefix-sink
  local g=g-$path s=s-$path
  if [[ $path == direct ]]; then
    ip -n "$gen" link add "$g" address "$(mac_of "$index" 1)" type veth \
      peer name "$s" address "$(mac_of "$index" 4)" netns "$sink"
  else
    local gw=$prefix-$path
    ip netns add "$gw"
    ip -n "$gw" link set lo up
    ip -n "$gw" link add xgw0 address "$(mac_of "$index" 2)" type veth \
      peer name "$g" address "$(mac_of "$index" 1)" netns "$gen"
    ip -n "$gw" link add xgw1 address "$(mac_of "$index" 3)" type veth \
      peer name "$s" address "$(mac_of "$index" 4)" netns "$sink"
    ip -n "$gw" addr add 198.18.1.1/24 dev xgw0
    ip -n "$gw" addr add 2001:2:0:1::1/64 dev xgw0 nodad
    ip -n "$gw" addr add 198.18.2.1/24 dev xgw1
    ip -n "$gw" addr add 2001:2:0:2::1/64 dev xgw1 nodad
    ip netns exec "$gw" sysctl -q -w net.ipv4.ip_forward=1
    ip netns exec "$gw" sysctl -q -w net.ipv6.conf.all.forwarding=1
    ip -n "$gw" link set xgw0 up
    ip -n "$gw" link set xgw1 up
    ip -n "$gw" neigh replace 198.18.1.2 lladdr "$(mac_of "$index" 1)" dev xgw0 nud permanent
    ip -n "$gw" neigh replace 2001:2:0:1::2 lladdr "$(mac_of "$index" 1)" dev xgw0 nud permanent
    ip -n "$gw" neigh replace 198.18.2.2 lladdr "$(mac_of "$index" 4)" dev xgw1 nud permanent
    ip -n "$gw" neigh replace 2001:2:0:2::2 lladdr "$(mac_of "$index" 4)" dev xgw1 nud permanent
  fi
  ip netns exec "$gen" sysctl -q -w "net.ipv6.conf.$g.disable_ipv6=1"
  # GRO lets the generator's end accept frames XDP sends back to it (a veth
  # drops XDP-redirected frames unless its peer has XDP or GRO on), so the
  # reverse direction works too and gateways do not warn about it.
  ip netns exec "$gen" ethtool -K "$g" gro on >/dev/null
  ip netns exec "$sink" sysctl -q -w "net.ipv6.conf.$s.disable_ipv6=1"
  ip -n "$gen" link set "$g" up
  ip -n "$sink" link set "$s" up
}

up() {
  (( $# > 0 )) || usage
  local path
  for path in "$@"; do
    [[ $path =~ ^[a-z0-9]{1,13}$ ]] || { echo "bad path name: $path" >&2; exit 2; }
    [[ $path != gen && $path != sink ]] || { echo "reserved path name: $path" >&2; exit 2; }
  done
  down
  ip netns add "$prefix-gen"
  ip netns add "$prefix-sink"
  ip -n "$prefix-gen" link set lo up
  ip -n "$prefix-sink" link set lo up
  # No IPv6 on the injection pair: its own ND/MLD frames would enter the
  # generator program like any other frame.
  ip -n "$prefix-gen" link add xi0 type veth peer name xi1
  local end
  for end in xi0 xi1; do
    ip netns exec "$prefix-gen" sysctl -q -w "net.ipv6.conf.$end.disable_ipv6=1"
    ip -n "$prefix-gen" link set "$end" up
  done
  local index=1
  for path in "$@"; do
    add_path "$path" "$index"
    index=$((index + 1))
  done
}

case $cmd in
  up) up "$@" ;;
  down) down ;;
  *) usage ;;
esac
