/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every map of the xdpgw datapath object. Each .bpf.c of the object includes
 * this header; the definitions are __weak so libbpf's static linker
 * (`bpftool gen object`) merges the identical copies into one map.
 * Map names are at most 15 characters (kernel limit).
 */
#ifndef XDPGW_MAPS_H
#define XDPGW_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "xdpgw/shared.h"

/* Handler programs by enum xdpgw_slot. Written by the daemon at load (and
 * atomically per slot on upgrade); read by the dispatcher's tail call. Must
 * stay pinned or held open: the kernel clears it when the last user handle
 * closes. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, XDPGW_PROG_ARRAY_SIZE);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} handlers __weak SEC(".maps");

/* Packets and bytes per verdict reason. Per-CPU: written on every packet by
 * every program's single exit, so no atomics; the daemon sums over CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPGW_R_COUNT);
	__type(key, __u32);
	__type(value, struct xdpgw_counter);
} verdict_stats __weak SEC(".maps");

/* Packets and bytes that entered each handler slot (per CPU, as above). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPGW_PROG_ARRAY_SIZE);
	__type(key, __u32);
	__type(value, struct xdpgw_counter);
} handler_stats __weak SEC(".maps");

/* Runtime settings, one entry. Written by the daemon on apply; read per
 * packet. An ARRAY (not rodata) so a reload changes it without reloading
 * programs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpgw_settings);
} settings __weak SEC(".maps");

/* Egress: configured ports keyed by ifindex. DEVMAP_HASH so sparse ifindexes
 * need no sized array; written by the daemon, read by bpf_redirect_map. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
} tx_ports __weak SEC(".maps");

/* What the rewrite needs about each port (MAC, MTU, state), by ifindex.
 * Written by the daemon from netlink; read by the router. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct xdpgw_port);
} ports __weak SEC(".maps");

/* Static routes, longest prefix match: LPM_TRIE is the kernel's prefix
 * lookup. Written by the daemon from config; read by the router. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* LPM_TRIE requires it */
	__type(key, struct xdpgw_lpm_v4_key);
	__type(value, struct xdpgw_route);
} routes_v4 __weak SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xdpgw_lpm_v6_key);
	__type(value, struct xdpgw_route);
} routes_v6 __weak SEC(".maps");

/* Nexthops by id (dense ids allocated by the daemon): ARRAY for O(1) lookup.
 * The daemon keeps dmac current from the kernel neighbour table. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct xdpgw_nexthop);
} nexthops __weak SEC(".maps");

/* Addresses owned by the gateway (static mode): traffic to them goes to the
 * kernel. HASH: exact match on a small set. Written by the daemon. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct xdpgw_addr_key);
	__type(value, __u8);
} local_addrs __weak SEC(".maps");

/* CPU steering: CPUMAP entries (the CPUs packets can be handed to, each with
 * the second-stage program) and the dense list of configured CPU ids that
 * the flow hash indexes. Both written by the daemon. */
struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	/* Resized at load to the number of possible CPUs: the kernel refuses
	 * more (E2BIG). */
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} cpu_map __weak SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
} cpu_targets __weak SEC(".maps");

#endif /* XDPGW_MAPS_H */
