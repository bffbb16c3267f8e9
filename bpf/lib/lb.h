/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The L4 load balancer. A TCP/UDP packet either belongs to a flow in the
 * connection table (and goes where that flow goes), or is addressed to a VIP
 * (and starts a flow on the backend the VIP's Maglev table picks), or is not
 * load-balancer traffic at all (the router takes it).
 *
 * Two forwarding modes per VIP:
 *  - nat: destination rewritten to the backend; the backend's replies come
 *    back through the gateway and a reverse entry rewrites their source to
 *    the VIP. Backends need no change, but must route replies via us.
 *  - dsr: the packet is encapsulated (IPIP / IPv6-in-IPv6) to the backend,
 *    which decapsulates it (bpf/decap.bpf.c) and answers the client directly.
 *
 * Both directions are rewritten in place with incremental checksums; the
 * rewritten packet then goes through the router (route to the backend or the
 * client, MAC rewrite, DEVMAP redirect).
 */
#ifndef XDPGW_LB_H
#define XDPGW_LB_H

#include "router.h"

/* Last-seen timestamps are refreshed at most this often: the flow entry is
 * shared by every CPU, and a write per packet would bounce its cache line. */
#define LB_LAST_SEEN_GRANULARITY_NS 1000000000ull

/* L3 header of an untagged frame (the LB only takes untagged frames, like the
 * router). */
#define LB_L3_OFF ((__u32)sizeof(struct ethhdr))

/* Fills the flow key of a TCP/UDP packet from its headers. 0 or -1. */
static __always_inline int lb_flow_key(struct xdp_md *ctx,
				       const struct xdpgw_pkt_meta *meta,
				       const struct flow_ports *fp,
				       struct xdpgw_flow_key *key)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	__builtin_memset(key, 0, sizeof(*key));
	key->sport = fp->sport;
	key->dport = fp->dport;
	key->proto = meta->l4_proto;
	if (meta->l3_proto == ETH_P_IP) {
		struct iphdr *ip = data + LB_L3_OFF;

		if ((void *)(ip + 1) > data_end)
			return -1;
		key->family = AF_INET;
		__builtin_memcpy(key->src, &ip->saddr, 4);
		__builtin_memcpy(key->dst, &ip->daddr, 4);
	} else {
		struct ipv6hdr *ip6 = data + LB_L3_OFF;

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		key->family = AF_INET6;
		__builtin_memcpy(key->src, &ip6->saddr, 16);
		__builtin_memcpy(key->dst, &ip6->daddr, 16);
	}
	return 0;
}

/* Hash of the client's 5-tuple that indexes the Maglev table. It depends on
 * the packet only, so every instance with the same config picks the same
 * backend for a flow (scale-out behind ECMP relies on it). */
static __always_inline __u32 lb_flow_hash(const struct xdpgw_flow_key *key)
{
	const __u32 *w = (const __u32 *)key;
	__u32 h = 0x811C9DC5u;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*key) / 4); i++) {
		__u32 k = w[i] * 0xCC9E2D51u;

		k = (k << 15) | (k >> 17);
		h ^= k * 0x1B873593u;
		h = ((h << 13) | (h >> 19)) * 5 + 0xE6546B64u;
	}
	h ^= h >> 16;
	h *= 0x85EBCA6Bu;
	h ^= h >> 13;
	h *= 0xC2B2AE35u;
	h ^= h >> 16;
	return h;
}

static __always_inline void lb_count(void *stats_map, __u32 id, __u64 bytes,
				     int new_flow)
{
	struct xdpgw_lb_counter *c = bpf_map_lookup_elem(stats_map, &id);

	if (!c)
		return;
	c->packets++;
	c->bytes += bytes;
	if (new_flow)
		c->new_flows++;
}

/* Per-flow accounting in the shared entry: `packets` and `bytes` are this
 * packet plus the hits this CPU's flow cache held back. Several CPUs may
 * share a flow, hence atomics. */
static __always_inline void lb_touch(struct xdpgw_flow *flow, __u64 packets, __u64 bytes)
{
	__u64 now = bpf_ktime_get_ns();

	__sync_fetch_and_add(&flow->packets, packets);
	__sync_fetch_and_add(&flow->bytes, bytes);
	if (now - flow->last_seen_ns > LB_LAST_SEEN_GRANULARITY_NS)
		flow->last_seen_ns = now;
}

/* ---- per-CPU flow cache (lb_flow_cache, maps.h) ------------------------------
 *
 * An LB flow's decision never changes once made (conn_table entries are not
 * rewritten, only created and evicted), so each CPU keeps the decisions of
 * the flows it saw last in a direct-mapped PERCPU_ARRAY. A hit costs a
 * multiplicative hash, an inlined per-CPU array lookup and a 40-byte compare
 * instead of conn_table's jhash, bucket walk, two atomics and a clock read.
 * Every XDPGW_LB_CACHE_FLUSH-th packet of a cached flow goes to conn_table
 * again: it writes the held-back counts, refreshes last_seen and the LRU's
 * reference bit (so an active flow is not evicted for looking idle), and
 * finds out when the entry was evicted (the flow is then re-created as any
 * new flow would be). With more flows than slots the cache only misses: one
 * slot read and one 104-byte write per packet on top of conn_table. */

/* Entry XDPGW_LB_CACHE_SLOTS of lb_flow_cache is not a slot but this CPU's
 * cache state. When flows outnumber the slots (or cycle through them), every
 * lookup misses and the cache only adds a slot read and a slot write per
 * packet (~100 ns measured at 10,000 flows, where the footprint already
 * crowds the caches and TLB). So each CPU scores its hits (+1) against its
 * misses (-1); at LB_CACHE_MISS_LIMIT it leaves the cache alone for the
 * next LB_CACHE_BYPASS packets, then tries again. */
#define LB_CACHE_SCORE_MAX 64
#define LB_CACHE_MISS_LIMIT (-32)
#define LB_CACHE_BYPASS 4096

struct lb_cache_state {
	__u64 bypass; /* packets left that skip the cache */
	__s64 score;  /* hits - misses, clamped */
};

/* Slot of `key`: the top bits of a multiplicative hash of its ten words. */
static __always_inline __u32 lb_cache_index(const struct xdpgw_flow_key *key)
{
	const __u32 *w = (const __u32 *)key;
	__u32 h = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*key) / 4); i++)
		h = (h ^ w[i]) * 0x9E3779B1u;
	return h >> (32 - XDPGW_LB_CACHE_SLOT_BITS);
}

static __always_inline int flow_key_equal(const struct xdpgw_flow_key *a,
					  const struct xdpgw_flow_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) |
		(x[4] ^ y[4])) == 0;
}

/* Puts `flow` (just counted in conn_table) into `slot` for `key`. The flow
 * the slot held gets its held-back hits written back first. Only XDP on this
 * CPU writes the slot, and XDP runs to completion with bottom halves off,
 * so no reader sees half a slot. */
static __always_inline void lb_cache_fill(struct xdpgw_lb_cache_slot *slot,
					  const struct xdpgw_flow_key *key,
					  const struct xdpgw_flow *flow)
{
	if (slot->flow.packets && !flow_key_equal(&slot->key, key)) {
		struct xdpgw_flow *old = bpf_map_lookup_elem(&conn_table, &slot->key);

		if (old) {
			__sync_fetch_and_add(&old->packets, slot->flow.packets);
			__sync_fetch_and_add(&old->bytes, slot->flow.bytes);
		}
	}
	__builtin_memcpy(&slot->key, key, sizeof(*key));
	__builtin_memcpy(&slot->flow, flow, sizeof(*flow));
	slot->flow.packets = 0;
	slot->flow.bytes = 0;
}

static __always_inline void conn_count(__u32 what, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&conn_stats, &what);

	if (c)
		*c += n;
}

static __always_inline const struct xdpgw_vip *
lb_find_vip(const struct xdpgw_flow_key *fk, __u32 gen)
{
	struct xdpgw_vip_key vk = {};
	const struct xdpgw_vip *vip;

	__builtin_memcpy(vk.addr, fk->dst, 16);
	vk.port = fk->dport;
	vk.proto = fk->proto;
	vk.family = fk->family;
	vip = cfg_lookup(&cfg_vips, gen, &vk);
	if (vip)
		return vip;
	vk.port = 0; /* a VIP for every port of the protocol */
	return cfg_lookup(&cfg_vips, gen, &vk);
}

/* Picks the backend of a new flow through the VIP's Maglev table. */
static __always_inline const struct xdpgw_backend *
lb_pick_backend(const struct xdpgw_vip *vip, const struct xdpgw_flow_key *fk,
		__u32 gen, __u32 *backend_id)
{
	__u32 slot = vip->ring_slot, pos, *id;
	void *ring;

	if (vip->ring_size == 0)
		return NULL;
	ring = bpf_map_lookup_elem(&lb_rings, &slot);
	if (!ring)
		return NULL;
	pos = lb_flow_hash(fk) % vip->ring_size;
	id = bpf_map_lookup_elem(ring, &pos);
	if (!id)
		return NULL;
	*backend_id = *id;
	return cfg_lookup(&cfg_backends, gen, id);
}

/*
 * Creates the flow entries of a new flow: the forward one, and for NAT the
 * reverse one keyed by what the backend's replies look like. When another
 * CPU created the flow first, its entry wins (BPF_NOEXIST), so both CPUs
 * send the flow to the same backend. Returns the entry to use, or NULL.
 */
static __always_inline struct xdpgw_flow *
lb_new_flow(const struct xdpgw_flow_key *fk, const struct xdpgw_vip *vip,
	    const struct xdpgw_backend *be, __u32 backend_id, int *created)
{
	struct xdpgw_flow flow = {};
	__u64 now = bpf_ktime_get_ns();

	flow.action = vip->mode == XDPGW_LB_DSR ? XDPGW_FLOW_LB_DSR : XDPGW_FLOW_LB_NAT;
	flow.target_family = be->family;
	flow.vip_id = vip->vip_id;
	flow.backend_id = backend_id;
	flow.target_port = be->port ? be->port : fk->dport;
	__builtin_memcpy(flow.target, be->addr, 16);
	flow.created_ns = now;
	flow.last_seen_ns = now;

	*created = bpf_map_update_elem(&conn_table, fk, &flow, BPF_NOEXIST) == 0;
	conn_count(*created ? XDPGW_CONN_INSERTED : XDPGW_CONN_INSERT_RACED, 1);
	if (*created && flow.action == XDPGW_FLOW_LB_NAT) {
		struct xdpgw_flow_key rk = {};

		__builtin_memcpy(rk.src, be->addr, 16);
		__builtin_memcpy(rk.dst, fk->src, 16);
		rk.sport = flow.target_port;
		rk.dport = fk->sport;
		rk.proto = fk->proto;
		rk.family = fk->family;
		/* The forward entry's stack copy becomes the reverse one
		 * (same VIP, backend and times): xdpgw_lb's stack is near
		 * the verifier's 512-byte limit for the call chain. */
		flow.action = XDPGW_FLOW_LB_REVERSE_NAT;
		flow.target_family = fk->family;
		flow.target_port = fk->dport;
		__builtin_memcpy(flow.target, fk->dst, 16);
		/* Failure here leaves the replies to the router: the client
		 * then sees the backend's address and resets. With an LRU
		 * table the update only fails on memory pressure. */
		if (bpf_map_update_elem(&conn_table, &rk, &flow, BPF_ANY) == 0)
			conn_count(XDPGW_CONN_INSERTED, 1);
	}
	return bpf_map_lookup_elem(&conn_table, fk);
}

/* Offsets of the L4 checksum and of the port a NAT rewrites. */
static __always_inline __u32 l4_check_off(__u8 proto)
{
	return proto == IPPROTO_TCP ? 16 : 6;
}

/*
 * Rewrites the destination (forward NAT) or source (reverse NAT) address and
 * port of an untagged TCP/UDP packet to `addr`/`port`, with incremental IP
 * and L4 checksum updates. 0, or a drop reason.
 */
static __always_inline __u32 lb_nat_rewrite(struct xdp_md *ctx,
					    const struct xdpgw_pkt_meta *meta,
					    int rewrite_src, const __u8 *addr,
					    __u16 port)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l4_off = meta->l4_off & XDPGW_MAX_L4_OFFSET;
	__u8 proto = meta->l4_proto;
	__u16 *l4_ports = data + l4_off;
	__u16 *check;
	__u64 delta = 0;
	__u16 *port_field;

	/* The handler checked the whole L4 header; these re-checks are for the
	 * verifier (and keep the function safe on its own). */
	if ((void *)l4_ports + 20 > data_end && proto == IPPROTO_TCP)
		return XDPGW_R_DROP_TCP_TRUNCATED;
	if ((void *)l4_ports + 8 > data_end)
		return proto == IPPROTO_TCP ? XDPGW_R_DROP_TCP_TRUNCATED
					    : XDPGW_R_DROP_UDP_TRUNCATED;
	check = (void *)l4_ports + l4_check_off(proto);
	if ((void *)(check + 1) > data_end)
		return XDPGW_R_DROP_TCP_TRUNCATED;
	port_field = rewrite_src ? &l4_ports[0] : &l4_ports[1];

	if (meta->l3_proto == ETH_P_IP) {
		struct iphdr *ip = data + LB_L3_OFF;
		__u32 *field, to;

		if ((void *)(ip + 1) > data_end)
			return XDPGW_R_DROP_IPV4_TRUNCATED;
		field = rewrite_src ? &ip->saddr : &ip->daddr;
		__builtin_memcpy(&to, addr, 4);
		ip->check = csum_apply(ip->check, csum_delta32(0, *field, to));
		delta = csum_delta32(delta, *field, to);
		*field = to;
	} else {
		struct ipv6hdr *ip6 = data + LB_L3_OFF;
		__u32 to[4];
		__u32 *field;

		if ((void *)(ip6 + 1) > data_end)
			return XDPGW_R_DROP_IPV6_TRUNCATED;
		field = rewrite_src ? ip6->saddr.in6_u.u6_addr32
				    : ip6->daddr.in6_u.u6_addr32;
		__builtin_memcpy(to, addr, 16);
		delta = csum_delta_addr(delta, field, to, 4);
		__builtin_memcpy(field, to, 16);
	}
	delta = csum_delta16(delta, *port_field, port);
	*port_field = port;

	/* IPv4 UDP may carry no checksum (0): it stays without one. A
	 * computed 0 is sent as 0xFFFF (RFC 768). */
	if (proto == IPPROTO_UDP && meta->l3_proto == ETH_P_IP && *check == 0)
		return 0;
	*check = csum_apply(*check, delta);
	if (proto == IPPROTO_UDP && *check == 0)
		*check = 0xFFFF;
	return 0;
}

/*
 * DSR: puts an outer IPv4 (IPIP) or IPv6 (IPv6-in-IPv6) header in front of
 * the IP packet, from the generation's tunnel source to the backend, and
 * updates `meta` to describe the outer packet. 0, or a drop reason.
 */
static __always_inline __u32 lb_encap(struct xdp_md *ctx,
				      struct xdpgw_pkt_meta *meta,
				      const struct xdpgw_flow *flow)
{
	const struct xdpgw_lb_settings *lbs;
	void *data, *data_end;
	struct ethhdr *eth;
	__u32 zero = 0, inner_len = meta->l3_len;
	__u8 tos = 0;

	lbs = cfg_lookup(&cfg_lb, meta->gen, &zero);
	if (!lbs)
		return XDPGW_R_DROP_LB_ENCAP_FAILED;

	/* The outer header carries the inner traffic class so queueing
	 * upstream of the backend treats the flow the same. */
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (meta->l3_proto == ETH_P_IP) {
		struct iphdr *inner = data + LB_L3_OFF;

		if ((void *)(inner + 1) > data_end)
			return XDPGW_R_DROP_IPV4_TRUNCATED;
		tos = inner->tos;
	} else {
		struct ipv6hdr *inner = data + LB_L3_OFF;

		if ((void *)(inner + 1) > data_end)
			return XDPGW_R_DROP_IPV6_TRUNCATED;
		tos = (inner->priority << 4) | (inner->flow_lbl[0] >> 4);
	}

	if (flow->target_family == AF_INET) {
		struct iphdr *outer;

		if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct iphdr)))
			return XDPGW_R_DROP_LB_ENCAP_FAILED;
		data = (void *)(long)ctx->data;
		data_end = (void *)(long)ctx->data_end;
		eth = data;
		outer = data + sizeof(*eth);
		if ((void *)(outer + 1) + sizeof(*eth) > data_end)
			return XDPGW_R_DROP_LB_ENCAP_FAILED;
		/* MACs are rewritten by the router; only the type matters. */
		__builtin_memcpy(eth, (void *)outer + sizeof(*outer), 12);
		eth->h_proto = bpf_htons(ETH_P_IP);
		outer->version = 4;
		outer->ihl = 5;
		outer->tos = tos;
		outer->tot_len = bpf_htons(inner_len + sizeof(*outer));
		outer->id = 0;
		outer->frag_off = bpf_htons(0x4000); /* DF: PMTU works end to end */
		outer->ttl = 64;
		outer->protocol = meta->l3_proto == ETH_P_IP ? IPPROTO_IPIP
							      : IPPROTO_IPV6;
		outer->check = 0;
		__builtin_memcpy(&outer->saddr, lbs->tunnel_src4, 4);
		__builtin_memcpy(&outer->daddr, flow->target, 4);
		outer->check = csum_words((const __u32 *)outer, 5);
		meta->l3_len = inner_len + sizeof(*outer);
		meta->l4_off = LB_L3_OFF + sizeof(*outer);
		meta->l4_proto = outer->protocol;
		meta->l3_proto = ETH_P_IP;
	} else {
		struct ipv6hdr *outer;

		if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct ipv6hdr)))
			return XDPGW_R_DROP_LB_ENCAP_FAILED;
		data = (void *)(long)ctx->data;
		data_end = (void *)(long)ctx->data_end;
		eth = data;
		outer = data + sizeof(*eth);
		if ((void *)(outer + 1) + sizeof(*eth) > data_end)
			return XDPGW_R_DROP_LB_ENCAP_FAILED;
		__builtin_memcpy(eth, (void *)outer + sizeof(*outer), 12);
		eth->h_proto = bpf_htons(ETH_P_IPV6);
		outer->version = 6;
		outer->priority = tos >> 4;
		outer->flow_lbl[0] = (tos & 0x0F) << 4;
		outer->flow_lbl[1] = 0;
		outer->flow_lbl[2] = 0;
		outer->payload_len = bpf_htons(inner_len);
		outer->nexthdr = meta->l3_proto == ETH_P_IP ? IPPROTO_IPIP
							     : IPPROTO_IPV6;
		outer->hop_limit = 64;
		__builtin_memcpy(&outer->saddr, lbs->tunnel_src6, 16);
		__builtin_memcpy(&outer->daddr, flow->target, 16);
		meta->l3_len = inner_len + sizeof(*outer);
		meta->l4_off = LB_L3_OFF + sizeof(*outer);
		meta->l4_proto = outer->nexthdr;
		meta->l3_proto = ETH_P_IPV6;
	}
	meta->flags = 0; /* the outer header has no options, no extensions */
	return 0;
}

/* Sends a packet of a known flow the way the flow goes. `flow` is the
 * conn_table entry, counted with the hits `held` (this CPU's cache slot of
 * the flow, or NULL) held back, or, when `cached`, the cache slot's copy,
 * which counts the hit itself. */
static __always_inline int lb_apply(struct xdp_md *ctx,
				    struct xdpgw_pkt_meta *meta,
				    const struct flow_ports *fp,
				    struct xdpgw_flow *flow, int new_flow, int cached,
				    const struct xdpgw_lb_cache_slot *held,
				    struct xdpgw_fwd_request *fwd)
{
	__u64 bytes = frame_len(ctx);
	struct flow_ports out_ports = *fp;
	__u32 reason;

	switch (flow->action) {
	case XDPGW_FLOW_LB_NAT:
		reason = lb_nat_rewrite(ctx, meta, 0, flow->target, flow->target_port);
		if (reason)
			return drop(ctx, reason);
		out_ports.dport = flow->target_port;
		reason = XDPGW_R_FWD_LB_NAT;
		break;
	case XDPGW_FLOW_LB_REVERSE_NAT:
		reason = lb_nat_rewrite(ctx, meta, 1, flow->target, flow->target_port);
		if (reason)
			return drop(ctx, reason);
		out_ports.sport = flow->target_port;
		reason = XDPGW_R_FWD_LB_REVERSE_NAT;
		break;
	case XDPGW_FLOW_LB_DSR:
		reason = lb_encap(ctx, meta, flow);
		if (reason)
			return drop(ctx, reason);
		reason = XDPGW_R_FWD_LB_DSR;
		break;
	default:
		return XDPGW_GO_ON; /* not a load-balancer flow */
	}
	if (cached) {
		flow->packets++;
		flow->bytes += bytes;
	} else {
		__u64 held_packets = held ? held->flow.packets : 0;
		__u64 held_bytes = held ? held->flow.bytes : 0;

		lb_touch(flow, held_packets + 1, held_bytes + bytes);
	}
	lb_count(&vip_stats, flow->vip_id, bytes, new_flow);
	lb_count(&backend_stats, flow->backend_id, bytes, new_flow);
	return request_forward(fwd, out_ports.sport, out_ports.dport, reason);
}

/*
 * Load balancing for a validated TCP/UDP packet: XDPGW_FORWARD with `fwd`
 * filled once it is rewritten for its backend, a drop, or XDPGW_GO_ON when
 * it is not load-balancer traffic.
 */
static __always_inline int lb_process(struct xdp_md *ctx,
				      struct xdpgw_pkt_meta *meta,
				      const struct flow_ports *fp,
				      struct xdpgw_fwd_request *fwd)
{
	const struct xdpgw_backend *be;
	const struct xdpgw_vip *vip;
	/* Aligned: flow_key_equal() and the hashes read it in words. */
	struct xdpgw_flow_key key __attribute__((aligned(8)));
	struct xdpgw_lb_cache_slot *slot, *held = NULL;
	struct lb_cache_state *state;
	struct xdpgw_flow *flow;
	__u32 backend_id = 0, idx;
	int created = 0, verdict;

	/* Tagged frames belong to kernel VLAN devices; options and
	 * extension headers go the kernel's way too (see router.h). */
	if (meta->vlan_depth ||
	    (meta->flags & (XDPGW_META_F_IPV4_OPTIONS | XDPGW_META_F_HOP_BY_HOP)))
		return XDPGW_GO_ON;
	if (lb_flow_key(ctx, meta, fp, &key))
		return XDPGW_GO_ON;

	idx = XDPGW_LB_CACHE_SLOTS;
	state = bpf_map_lookup_elem(&lb_flow_cache, &idx);
	if (!state)
		return XDPGW_GO_ON; /* cannot happen: the map has SLOTS + 1 entries */
	slot = NULL;
	if (state->bypass) {
		state->bypass--;
	} else {
		idx = lb_cache_index(&key);
		slot = bpf_map_lookup_elem(&lb_flow_cache, &idx);
		if (!slot)
			return XDPGW_GO_ON; /* cannot happen: idx < XDPGW_LB_CACHE_SLOTS */
		if (flow_key_equal(&slot->key, &key)) {
			if (slot->flow.action != XDPGW_FLOW_NONE &&
			    slot->flow.packets < XDPGW_LB_CACHE_FLUSH - 1) {
				if (state->score < LB_CACHE_SCORE_MAX)
					state->score++;
				return lb_apply(ctx, meta, fp, &slot->flow, 0, 1, NULL, fwd);
			}
			/* Time to write back and check the shared entry.
			 * The slot serves nothing until that entry (or a
			 * re-created one) fills it again: an evicted flow is
			 * not served from the cache. Its held-back counts
			 * stay until they are added. */
			slot->flow.action = XDPGW_FLOW_NONE;
			held = slot;
		} else if (--state->score <= LB_CACHE_MISS_LIMIT) {
			state->score = 0;
			state->bypass = LB_CACHE_BYPASS;
		}
	}

	flow = bpf_map_lookup_elem(&conn_table, &key);
	if (flow) {
		verdict = lb_apply(ctx, meta, fp, flow, 0, 0, held, fwd);
		if (verdict == XDPGW_FORWARD && slot)
			lb_cache_fill(slot, &key, flow);
		return verdict;
	}

	vip = lb_find_vip(&key, meta->gen);
	if (!vip)
		return XDPGW_GO_ON;
	be = lb_pick_backend(vip, &key, meta->gen, &backend_id);
	/* NAT cannot translate between families; DSR can carry either. */
	if (!be || (vip->mode == XDPGW_LB_NAT && be->family != key.family))
		return drop(ctx, XDPGW_R_DROP_LB_NO_BACKEND);
	flow = lb_new_flow(&key, vip, be, backend_id, &created);
	if (!flow)
		return drop(ctx, XDPGW_R_DROP_LB_NO_BACKEND);
	verdict = lb_apply(ctx, meta, fp, flow, created, 0, held, fwd);
	if (verdict == XDPGW_FORWARD && slot)
		lb_cache_fill(slot, &key, flow);
	return verdict;
}

/* ---- ICMP errors about a load-balanced flow -------------------------------- */

/*
 * An ICMP error (fragmentation needed / packet too big, unreachable, time
 * exceeded) about a packet the VIP sent to a client arrives addressed to the
 * VIP, quoting that packet: VIP:port -> client:port. The backend of the flow
 * is the one that must learn about it (PMTU discovery above all), so the
 * error follows the flow: DSR encapsulates it to the backend unchanged; NAT
 * rewrites the outer destination and the quoted source to the backend, with
 * every checksum that covers them.
 */

#define ICMP_DEST_UNREACH 3
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12
#define ICMPV6_DEST_UNREACH_T 1
#define ICMPV6_PKT_TOOBIG_T 2
#define ICMPV6_TIME_EXCEED_T 3
#define ICMPV6_PARAMPROB_T 4

/* Where the quoted packet and its fields are, once checked. */
struct icmp_quote {
	__u32 inner_off;     /* quoted IP header */
	__u32 inner_l4_off;  /* quoted TCP/UDP header (at least 8 bytes there) */
	__u8 inner_proto;
};

static __always_inline int icmp_is_error(__u16 l3_proto, __u8 type)
{
	if (l3_proto == ETH_P_IP)
		return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED ||
		       type == ICMP_PARAMETERPROB;
	return type >= ICMPV6_DEST_UNREACH_T && type <= ICMPV6_PARAMPROB_T;
}

/* Reads the quoted packet into a flow key of the flow it belongs to (the
 * client's direction). 0, or -1 when it is not an error we can attribute. */
static __always_inline int icmp_quoted_flow(struct xdp_md *ctx,
					    const struct xdpgw_pkt_meta *meta,
					    struct xdpgw_flow_key *key,
					    struct icmp_quote *q)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l4 = meta->l4_off & XDPGW_MAX_L4_OFFSET;
	struct icmp_fixed_hdr *icmp = data + l4;
	__be16 *ports;

	if ((void *)(icmp + 1) > data_end || !icmp_is_error(meta->l3_proto, icmp->type))
		return -1;
	__builtin_memset(key, 0, sizeof(*key));
	q->inner_off = l4 + sizeof(*icmp);
	if (meta->l3_proto == ETH_P_IP) {
		struct iphdr *in = data + q->inner_off;

		if ((void *)(in + 1) > data_end || in->version != 4 || in->ihl != 5)
			return -1;
		q->inner_proto = in->protocol;
		q->inner_l4_off = q->inner_off + sizeof(*in);
		key->family = AF_INET;
		__builtin_memcpy(key->src, &in->daddr, 4);
		__builtin_memcpy(key->dst, &in->saddr, 4);
	} else {
		struct ipv6hdr *in = data + q->inner_off;

		if ((void *)(in + 1) > data_end || in->version != 6)
			return -1;
		q->inner_proto = in->nexthdr;
		q->inner_l4_off = q->inner_off + sizeof(*in);
		key->family = AF_INET6;
		__builtin_memcpy(key->src, &in->daddr, 16);
		__builtin_memcpy(key->dst, &in->saddr, 16);
	}
	if (q->inner_proto != IPPROTO_TCP && q->inner_proto != IPPROTO_UDP)
		return -1;
	ports = data + (q->inner_l4_off & 0x7ff);
	if ((void *)(ports + 4) > data_end)
		return -1;
	key->proto = q->inner_proto;
	key->sport = ports[1]; /* the client's port: the quoted destination */
	key->dport = ports[0];
	return 0;
}

/* NAT: the error goes to the backend as if the backend had sent the quoted
 * packet itself. */
static __always_inline __u32 icmp_nat_rewrite(struct xdp_md *ctx,
					      const struct xdpgw_pkt_meta *meta,
					      const struct icmp_quote *q,
					      const struct xdpgw_flow *flow)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l4 = meta->l4_off & XDPGW_MAX_L4_OFFSET;
	struct icmp_fixed_hdr *icmp = data + l4;
	__be16 *ports = data + (q->inner_l4_off & 0x7ff);
	__u64 icmp_delta = 0, inner_l4_delta = 0;
	__u16 *inner_l4_check = NULL;
	__u32 check_off;

	if ((void *)(icmp + 1) > data_end || (void *)(ports + 4) > data_end)
		return XDPGW_R_DROP_ICMP_TRUNCATED;
	/* The quoted L4 checksum, when the quote reaches it, covers the
	 * quoted source address and port too. */
	check_off = q->inner_proto == IPPROTO_TCP ? 16 : 6;
	if ((q->inner_l4_off & 0x7ff) + check_off + 2 <= l3_end(meta)) {
		inner_l4_check = (void *)ports + check_off;
		if ((void *)(inner_l4_check + 1) > data_end)
			return XDPGW_R_DROP_ICMP_TRUNCATED;
		if (q->inner_proto == IPPROTO_UDP && meta->l3_proto == ETH_P_IP &&
		    *inner_l4_check == 0)
			inner_l4_check = NULL;
	}

	if (meta->l3_proto == ETH_P_IP) {
		struct iphdr *outer = data + LB_L3_OFF;
		struct iphdr *in = data + (q->inner_off & 0x7ff);
		__u32 to, old_check;

		if ((void *)(outer + 1) > data_end || (void *)(in + 1) > data_end)
			return XDPGW_R_DROP_ICMP_TRUNCATED;
		__builtin_memcpy(&to, flow->target, 4);
		outer->check = csum_apply(outer->check, csum_delta32(0, outer->daddr, to));
		outer->daddr = to;
		inner_l4_delta = csum_delta32(0, in->saddr, to);
		old_check = in->check;
		in->check = csum_apply(in->check, csum_delta32(0, in->saddr, to));
		icmp_delta = csum_delta32(icmp_delta, in->saddr, to);
		icmp_delta = csum_delta16(icmp_delta, old_check, in->check);
		in->saddr = to;
	} else {
		struct ipv6hdr *outer = data + LB_L3_OFF;
		struct ipv6hdr *in = data + (q->inner_off & 0x7ff);
		__u32 to[4];

		if ((void *)(outer + 1) > data_end || (void *)(in + 1) > data_end)
			return XDPGW_R_DROP_ICMPV6_TRUNCATED;
		__builtin_memcpy(to, flow->target, 16);
		/* ICMPv6 checksums the pseudo-header: the outer destination. */
		icmp_delta = csum_delta_addr(icmp_delta, outer->daddr.in6_u.u6_addr32, to, 4);
		__builtin_memcpy(&outer->daddr, to, 16);
		inner_l4_delta = csum_delta_addr(0, in->saddr.in6_u.u6_addr32, to, 4);
		icmp_delta = csum_delta_addr(icmp_delta, in->saddr.in6_u.u6_addr32, to, 4);
		__builtin_memcpy(&in->saddr, to, 16);
	}
	inner_l4_delta = csum_delta16(inner_l4_delta, ports[0], flow->target_port);
	icmp_delta = csum_delta16(icmp_delta, ports[0], flow->target_port);
	ports[0] = flow->target_port;
	if (inner_l4_check) {
		__u16 old = *inner_l4_check;

		*inner_l4_check = csum_apply(old, inner_l4_delta);
		icmp_delta = csum_delta16(icmp_delta, old, *inner_l4_check);
	}
	icmp->checksum = csum_apply(icmp->checksum, icmp_delta);
	return 0;
}

/* ICMP errors for load-balanced flows; XDPGW_GO_ON for everything else. */
static __always_inline int lb_icmp_error(struct xdp_md *ctx,
					 struct xdpgw_pkt_meta *meta,
					 struct xdpgw_fwd_request *fwd)
{
	struct xdpgw_flow_key key;
	struct icmp_quote q = {};
	struct xdpgw_flow *flow;
	__u32 reason;

	if (meta->vlan_depth ||
	    (meta->flags & (XDPGW_META_F_IPV4_OPTIONS | XDPGW_META_F_HOP_BY_HOP)))
		return XDPGW_GO_ON;
	if (icmp_quoted_flow(ctx, meta, &key, &q))
		return XDPGW_GO_ON;
	flow = bpf_map_lookup_elem(&conn_table, &key);
	if (!flow)
		return XDPGW_GO_ON;
	if (flow->action == XDPGW_FLOW_LB_DSR) {
		reason = lb_encap(ctx, meta, flow);
		if (reason)
			return drop(ctx, reason);
		return request_forward(fwd, 0, 0, XDPGW_R_FWD_LB_DSR);
	}
	if (flow->action != XDPGW_FLOW_LB_NAT)
		return XDPGW_GO_ON;
	reason = icmp_nat_rewrite(ctx, meta, &q, flow);
	if (reason)
		return drop(ctx, reason);
	return request_forward(fwd, 0, 0, XDPGW_R_FWD_LB_NAT);
}

#endif /* XDPGW_LB_H */
