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

/* bpf_tail_call with `slot` kept a constant in the instruction stream, so the
 * verifier sees a constant key and the JIT emits a direct jump. Written in
 * assembly because the compiler would otherwise merge the call sites of a
 * switch into one call with a variable key. */
static __always_inline void tail_call_static(void *ctx, void *prog_array, const __u32 slot)
{
	asm volatile("r1 = %[ctx]\n\t"
		     "r2 = %[map]\n\t"
		     "r3 = %[slot]\n\t"
		     "call 12\n\t" /* BPF_FUNC_tail_call */
		     :
		     : [ctx] "r"(ctx), [map] "r"(prog_array), [slot] "i"(slot)
		     : "r0", "r1", "r2", "r3", "r4", "r5");
}

/* The dispatcher's parse result for the handler it tail-calls (struct
 * xdpgw_parsed in shared.h says why per-CPU and not XDP metadata). A
 * PERCPU_ARRAY of one: the lookup is inlined to a per-CPU address, no hash,
 * no lock. Pinned like every map, so an old dispatcher and the new handlers
 * of an upgrade hand over through the same entry. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpgw_parsed);
} parsed __weak SEC(".maps");

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

/* ---- config generations ------------------------------------------------- */

/* Which generation new packets follow (0 or 1). Written by the daemon, with
 * one update, after the other generation's tables are complete; read once
 * per packet by the dispatcher. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} active_gen __weak SEC(".maps");

/* Each cfg_* map is an ARRAY_OF_MAPS indexed by generation: map-in-map lets
 * the daemon build a whole new table beside the live one and switch by
 * flipping active_gen. Inner maps are created by the daemon with the same
 * definition as the template here. Inner key/value sizes are given as
 * sizes, not types: a struct used only inside __array() becomes a BTF
 * forward declaration whose size libbpf cannot determine. */

/* Runtime settings (one entry): an ARRAY so a reload changes knobs without
 * reloading programs. */
struct xdpgw_settings_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct xdpgw_settings));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGW_CONFIG_GENERATIONS);
	__type(key, __u32);
	__array(values, struct xdpgw_settings_table);
} cfg_settings __weak SEC(".maps");

/* Static routes, longest prefix match: LPM_TRIE is the kernel's prefix
 * lookup (it requires BPF_F_NO_PREALLOC). */
struct xdpgw_routes4_table {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XDPGW_MAX_ROUTES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct xdpgw_lpm_v4_key));
	__uint(value_size, sizeof(struct xdpgw_route));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGW_CONFIG_GENERATIONS);
	__type(key, __u32);
	__array(values, struct xdpgw_routes4_table);
} cfg_routes4 __weak SEC(".maps");

struct xdpgw_routes6_table {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XDPGW_MAX_ROUTES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct xdpgw_lpm_v6_key));
	__uint(value_size, sizeof(struct xdpgw_route));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGW_CONFIG_GENERATIONS);
	__type(key, __u32);
	__array(values, struct xdpgw_routes6_table);
} cfg_routes6 __weak SEC(".maps");

/* Nexthops by dense id: ARRAY, ~1 ns a lookup here, inner map or not. The
 * daemon keeps dmac current from the kernel neighbour table, in place in
 * the active generation. */
struct xdpgw_nexthops_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPGW_MAX_NEXTHOPS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct xdpgw_nexthop));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGW_CONFIG_GENERATIONS);
	__type(key, __u32);
	__array(values, struct xdpgw_nexthops_table);
} cfg_nexthops __weak SEC(".maps");

/* Kernel routes (routing.source = "kernel", shared.h): written in place by
 * the daemon's route mirror, read by kernel_lookup (router.h). LPM_TRIE for
 * prefixes; one map for both generations, since an element update is atomic
 * and a route event must not wait for a config flip. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XDPGW_MAX_KROUTES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xdpgw_lpm_v4_key);
	__type(value, struct xdpgw_kroute);
} kr_routes4 __weak SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XDPGW_MAX_KROUTES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xdpgw_lpm_v6_key);
	__type(value, struct xdpgw_kroute);
} kr_routes6 __weak SEC(".maps");

/* Their nexthops by id: ARRAY, an inlined O(1) lookup. Written by the route
 * mirror (a neighbour event rewrites one entry's MAC in place). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPGW_MAX_KNEXTHOPS);
	__type(key, __u32);
	__type(value, struct xdpgw_knexthop);
} kr_nexthops __weak SEC(".maps");

/* Addresses owned by the gateway, to name why the FIB did not forward a
 * packet (static routing has them as host routes instead). HASH: exact
 * match on a small set; off the forwarding path, where its ~20 ns lookup
 * (jhash of a 20-byte key) would cost every routed packet. */
struct xdpgw_local_table {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDPGW_MAX_LOCAL_ADDRS);
	__uint(key_size, sizeof(struct xdpgw_addr_key));
	__uint(value_size, sizeof(__u8));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGW_CONFIG_GENERATIONS);
	__type(key, __u32);
	__array(values, struct xdpgw_local_table);
} cfg_local __weak SEC(".maps");

/* CPU steering: the dense list of configured CPU ids the flow hash indexes
 * (settings.cpu_count entries are used). */
struct xdpgw_cpus_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPGW_MAX_CPUS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGW_CONFIG_GENERATIONS);
	__type(key, __u32);
	__array(values, struct xdpgw_cpus_table);
} cfg_cpus __weak SEC(".maps");

/* ---- redirect targets (shared by both generations) ----------------------- */

/* Egress ports keyed by ifindex. DEVMAP_HASH: sparse ifindexes need no sized
 * array. Not generational (bpf_redirect_map needs the map itself): a reload
 * adds new ports before the flip and removes old ones after it, so it
 * always holds the union of what either live generation can choose. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, XDPGW_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
} tx_ports __weak SEC(".maps");

/* CPUs packets can be handed to, one CPUMAP per config generation: each
 * entry runs the second-stage program built for that generation
 * (cpu_stage.bpf.c), so a packet steered under generation g is finished by
 * g's tables on the other CPU, whatever the daemon flips meanwhile. The
 * daemon fills the inactive generation's map before the flip. */
struct xdpgw_cpu_map {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	/* Resized at load to the number of possible CPUs: the kernel refuses
	 * more (E2BIG). */
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
};
struct xdpgw_cpu_map cpu_map_g0 __weak SEC(".maps");
struct xdpgw_cpu_map cpu_map_g1 __weak SEC(".maps");

/* Packets steered into and begun out of each generation's CPUMAP (shared.h,
 * XDPGW_STEER_STATS). Per-CPU: counted on every steered packet. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPGW_STEER_STATS);
	__type(key, __u32);
	__type(value, __u64);
} steer_stats __weak SEC(".maps");

static __always_inline void count_steer(__u32 gen, __u32 begun)
{
	__u32 idx = gen * 2 + begun;
	__u64 *c = bpf_map_lookup_elem(&steer_stats, &idx);

	if (c)
		(*c)++;
}

/* ---- connection table and load balancer --------------------------------- */

/* Flows, 5-tuple -> state (see shared.h). LRU_HASH, one table for all CPUs
 * and userspace: a NAT flow's two directions may arrive on different CPUs
 * and the AF_XDP pipeline writes verdicts XDP must see, so a per-CPU LRU
 * (each CPU its own copy) cannot work. When full, the least recently used
 * flow is evicted instead of failing the insert. Resized at load from the
 * config (conn_table_size). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XDPGW_CONN_TABLE_DEFAULT_SIZE);
	__type(key, struct xdpgw_flow_key);
	__type(value, struct xdpgw_flow);
} conn_table __weak SEC(".maps");

/* Each CPU's cache of load-balancer flows in front of conn_table (struct
 * xdpgw_lb_cache_slot in shared.h). PERCPU_ARRAY, direct-mapped by a hash
 * of the flow key: a hit is an inlined per-CPU address plus a 40-byte
 * compare, no jhash, no bucket walk, no atomics on the shared entry; a miss
 * overwrites the slot with plain stores (no allocation, no lock, unlike an
 * LRU_PERCPU_HASH, whose lookup is the same jhash and bucket walk as
 * conn_table's and whose every miss would insert). Written and read by
 * lb.h only; userspace reads it to add the hits it holds to a flow's
 * counters. 4096 slots x 104 B = 416 KiB per CPU, plus one entry of
 * per-CPU state that turns the cache off while it only misses (lb.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPGW_LB_CACHE_SLOTS + 1); /* + this CPU's cache state (lb.h) */
	__type(key, __u32);
	__type(value, struct xdpgw_lb_cache_slot);
} lb_flow_cache __weak SEC(".maps");

/* Embryonic TCP flows of the load balancer (struct xdpgw_embryonic in
 * shared.h), apart from conn_table so that a SYN flood evicts only its own
 * kind. LRU_HASH: a flood fills it, and the oldest unproven flow goes. Sized
 * by the daemon at load ([lb] embryonic_table_size). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XDPGW_EMBRYONIC_TABLE_DEFAULT_SIZE);
	__type(key, struct xdpgw_flow_key);
	__type(value, struct xdpgw_embryonic);
} lb_embryonic __weak SEC(".maps");

/* UDP new flows per source prefix in the current second, per CPU.
 * LRU_PERCPU_HASH: each CPU counts its own without atomics or shared cache
 * lines, and a spoofed flood of prefixes recycles the oldest windows. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, XDPGW_UDP_CAP_TABLE_SIZE);
	__type(key, struct xdpgw_prefix_key);
	__type(value, struct xdpgw_new_flow_window);
} lb_udp_new_flows __weak SEC(".maps");

/* Each CPU's scratch flow entry: a UDP flow over its prefix's cap goes
 * (DSR) without being stored, and its entry does not fit the stack beside
 * the rest of xdpgw_lb's. PERCPU_ARRAY of one: no sharing, no lookup cost. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpgw_flow);
} lb_scratch __weak SEC(".maps");

/* Flow export (shared.h, struct xdpgw_fe_key): routed flows, written by the
 * router for every redirected (and sampled) packet while [flow_export] is on; read, and
 * deleted once exported at flow end, by the daemon's exporter. LRU_PERCPU_HASH:
 * keyed by a sparse 5-tuple (no dense id exists), updated on every packet by
 * whichever CPU it arrives on (per-CPU values: plain adds, no atomics, no
 * cache line bouncing between CPUs), and a flood of new flows evicts the
 * least recently used instead of failing. Pinned: a reload or a restart keeps
 * the flows not yet exported. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, XDPGW_FLOW_CACHE_SIZE);
	__type(key, struct xdpgw_fe_key);
	__type(value, struct xdpgw_fe_value);
} flow_cache __weak SEC(".maps");

/* Flow-export sampling (struct xdpgw_fe_cfg), one entry per CPU: the
 * interval the daemon writes and this CPU's countdown to the next sampled
 * packet. PERCPU_ARRAY: read and written on every routed packet while
 * export is on, an inlined per-CPU address with plain stores. Read only
 * when export is on, so export off costs it nothing. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpgw_fe_cfg);
} flow_cfg __weak SEC(".maps");

/* SYNs that started flows of each VIP in the current second, per CPU, by
 * VIP id (struct xdpgw_vip's syn_rate_limit). PERCPU_ARRAY: a dense id,
 * an inlined per-CPU address, no atomics. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPGW_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct xdpgw_new_flow_window);
} lb_vip_syn_windows __weak SEC(".maps");

/* How each flow opened by SYN cookies is translated (struct
 * xdpgw_synproxy_flow), by its forward key. LRU_HASH of conn_table's size:
 * only cookie flows have an entry, and an entry outlives its conn_table
 * flow only until the LRU recycles it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XDPGW_CONN_TABLE_DEFAULT_SIZE);
	__type(key, struct xdpgw_flow_key);
	__type(value, struct xdpgw_synproxy_flow);
} synproxy_flows __weak SEC(".maps");

/* Cookies sent, validated and failed, per CPU, by VIP id. PERCPU_ARRAY: a
 * flood increments them at line rate, without atomics. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPGW_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct xdpgw_synproxy_counter);
} synproxy_stats __weak SEC(".maps");

/* 1 while a VIP with synproxy mode "auto" answers SYNs with cookies; written
 * by the daemon's flood watch, by VIP id. ARRAY: not per generation, so a
 * reload neither starts nor stops cookies. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPGW_MAX_VIPS);
	__type(key, __u32);
	__type(value, __u32);
} synproxy_active __weak SEC(".maps");

/* Connection-table inserts (enum xdpgw_conn_stat), per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPGW_CONN_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} conn_stats __weak SEC(".maps");

/* VIPs by (address, port, protocol). HASH: exact match on a sparse set. */
struct xdpgw_vips_table {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDPGW_MAX_VIPS);
	__uint(key_size, sizeof(struct xdpgw_vip_key));
	__uint(value_size, sizeof(struct xdpgw_vip));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGW_CONFIG_GENERATIONS);
	__type(key, __u32);
	__array(values, struct xdpgw_vips_table);
} cfg_vips __weak SEC(".maps");

/* Backends by dense id (what Maglev rings hold). ARRAY: O(1). */
struct xdpgw_backends_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPGW_MAX_BACKENDS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct xdpgw_backend));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGW_CONFIG_GENERATIONS);
	__type(key, __u32);
	__array(values, struct xdpgw_backends_table);
} cfg_backends __weak SEC(".maps");

/* LB knobs (tunnel sources), one entry per generation. */
struct xdpgw_lb_settings_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct xdpgw_lb_settings));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGW_CONFIG_GENERATIONS);
	__type(key, __u32);
	__array(values, struct xdpgw_lb_settings_table);
} cfg_lb __weak SEC(".maps");

/* Maglev lookup tables, one inner ARRAY (position -> backend id) per VIP and
 * generation (slot = vip_id * generations + gen). Map-in-map so a health
 * change swaps one VIP's table with one update; BPF_F_INNER_MAP because the
 * table size is configurable and differs between VIPs. */
struct xdpgw_ring_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPGW_MAGLEV_DEFAULT_SIZE);
	__uint(map_flags, BPF_F_INNER_MAP);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGW_MAX_RINGS);
	__type(key, __u32);
	__array(values, struct xdpgw_ring_table);
} lb_rings __weak SEC(".maps");

/* Packets, bytes and new flows per VIP id and per backend id. Per-CPU (every
 * LB packet writes them); ids are stable across reloads. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPGW_MAX_VIPS);
	__type(key, __u32);
	__type(value, struct xdpgw_lb_counter);
} vip_stats __weak SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPGW_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct xdpgw_lb_counter);
} backend_stats __weak SEC(".maps");

/* ---- source NAT (shared.h, bpf/lib/snat.h) ------------------------------ */

/* [[snat]] matches of one generation: (egress, protocol, source prefix) ->
 * rule. Written by the daemon at apply; read by XDP for an outbound flow it
 * has no translation for. LPM_TRIE: the most specific source prefix wins,
 * whatever the file order. */
struct xdpgw_snat_table {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XDPGW_SNAT_MAX_MATCHES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct xdpgw_snat_match_key));
	__uint(value_size, sizeof(struct xdpgw_snat_rule));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGW_CONFIG_GENERATIONS);
	__type(key, __u32);
	__array(values, struct xdpgw_snat_table);
} cfg_snat __weak SEC(".maps");

/* Ports with inbound = "established-only" of one generation: ifindex ->
 * XDPGW_INBOUND_F_*. Written by the daemon at apply; read by XDP for an
 * IPv4 packet to be forwarded that no translation claimed. HASH: a few
 * ports, looked up by ifindex. */
struct xdpgw_inbound_table {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDPGW_MAX_PORTS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGW_CONFIG_GENERATIONS);
	__type(key, __u32);
	__array(values, struct xdpgw_inbound_table);
} cfg_inbound __weak SEC(".maps");

/* Live translations, inside flow -> translated source and state. Written by
 * XDP (insert, state bits, last_seen) and by the daemon (expiry deletes);
 * read by both. A HASH, not an LRU: a translation ends when its flow's
 * timeout says so, never because other flows needed room. Not generational
 * and pinned: reloads and restarts keep every translation. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDPGW_SNAT_TABLE_SIZE);
	__type(key, struct xdpgw_flow_key);
	__type(value, struct xdpgw_snat_flow);
} snat_flows __weak SEC(".maps");

/* Port ownership, translated (address, proto, port) -> inside flow key.
 * XDP inserts with BPF_NOEXIST, so one (address, port) has one owner; a
 * reply finds its flow here. The daemon deletes a port after its flow. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDPGW_SNAT_TABLE_SIZE);
	__type(key, struct xdpgw_snat_port_key);
	__type(value, struct xdpgw_flow_key);
} snat_ports __weak SEC(".maps");

/* enum xdpgw_snat_stat counters, per CPU (no atomics). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPGW_SNAT_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} snat_stats __weak SEC(".maps");

/* Looks up `key` in generation `gen` of a cfg_* table; NULL when either the
 * generation's table or the entry is missing. */
static __always_inline void *cfg_lookup(void *outer, __u32 gen, const void *key)
{
	void *inner = bpf_map_lookup_elem(outer, &gen);

	if (!inner)
		return NULL;
	return bpf_map_lookup_elem(inner, key);
}

#endif /* XDPGW_MAPS_H */
