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
#include "flow.h"
#include "encap.h"

/* Last-seen timestamps are refreshed at most this often: the flow entry is
 * shared by every CPU, and a write per packet would bounce its cache line. */
#define LB_LAST_SEEN_GRANULARITY_NS 1000000000ull

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
	/* Flow timestamps use the coarse clock (tick resolution, read from
	 * memory; bpf_ktime_get_ns reads the clock source, 20-30 ns in a VM):
	 * idle times are shown and compared in seconds. */
	__u64 now = bpf_ktime_get_coarse_ns();

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

/* The entry of a new flow of `vip` on backend `be`. */
static __always_inline void lb_flow_init(struct xdpgw_flow *flow, const struct xdpgw_flow_key *fk,
					 const struct xdpgw_vip *vip,
					 const struct xdpgw_backend *be, __u32 backend_id)
{
	__u64 now = bpf_ktime_get_coarse_ns(); /* lb_touch's clock */

	flow->action = vip->mode == XDPGW_LB_DSR ? XDPGW_FLOW_LB_DSR : XDPGW_FLOW_LB_NAT;
	flow->target_family = be->family;
	flow->vip_id = vip->vip_id;
	flow->backend_id = backend_id;
	flow->target_port = be->port ? be->port : fk->dport;
	__builtin_memcpy(flow->target, be->addr, 16);
	flow->created_ns = now;
	flow->last_seen_ns = now;
}

/* The key of a NAT flow's replies (backend -> client), from the key and
 * entry of its forward direction. */
static __always_inline void lb_reverse_key(const struct xdpgw_flow_key *fk,
					   const struct xdpgw_flow *fwd,
					   struct xdpgw_flow_key *rk)
{
	__builtin_memset(rk, 0, sizeof(*rk));
	__builtin_memcpy(rk->src, fwd->target, 16);
	__builtin_memcpy(rk->dst, fk->src, 16);
	rk->sport = fwd->target_port;
	rk->dport = fk->sport;
	rk->proto = fk->proto;
	rk->family = fk->family;
}

/* Turns a NAT flow's forward entry into its reverse one, in place (same
 * VIP, backend and times): xdpgw_lb's stack is near the verifier's 512-byte
 * limit for the call chain, so there is no second copy. */
static __always_inline void lb_flip_to_reverse(const struct xdpgw_flow_key *fk,
					       struct xdpgw_flow *flow)
{
	flow->action = XDPGW_FLOW_LB_REVERSE_NAT;
	flow->target_family = fk->family;
	flow->target_port = fk->dport;
	__builtin_memcpy(flow->target, fk->dst, 16);
}

/*
 * Puts a flow's entries into `table` (conn_table, or lb_embryonic with the
 * embryonic fields after `flow`): the forward one, and for NAT the reverse
 * one keyed by what the backend's replies look like. When another CPU
 * created the flow first, its entry wins (BPF_NOEXIST), so both CPUs send
 * the flow to the same backend. `flow` is clobbered. Returns whether the
 * forward entry was created here.
 */
static __always_inline int lb_insert_pair(void *table, const struct xdpgw_flow_key *fk,
					  struct xdpgw_flow *flow, __u32 inserted_stat)
{
	struct xdpgw_flow_key rk;
	int created = bpf_map_update_elem(table, fk, flow, BPF_NOEXIST) == 0;

	conn_count(created ? inserted_stat : XDPGW_CONN_INSERT_RACED, 1);
	if (created && flow->action == XDPGW_FLOW_LB_NAT) {
		lb_reverse_key(fk, flow, &rk);
		lb_flip_to_reverse(fk, flow);
		/* Failure here leaves the replies to the router: the client
		 * then sees the backend's address and resets. With an LRU
		 * table the update only fails on memory pressure. */
		if (bpf_map_update_elem(table, &rk, flow, BPF_ANY) == 0)
			conn_count(inserted_stat, 1);
	}
	return created;
}

/* A new established flow (UDP, or TCP past its handshake). */
static __always_inline struct xdpgw_flow *
lb_new_flow(const struct xdpgw_flow_key *fk, const struct xdpgw_vip *vip,
	    const struct xdpgw_backend *be, __u32 backend_id, int *created)
{
	struct xdpgw_flow flow = {};

	lb_flow_init(&flow, fk, vip, be, backend_id);
	*created = lb_insert_pair(&conn_table, fk, &flow, XDPGW_CONN_INSERTED);
	return bpf_map_lookup_elem(&conn_table, fk);
}

/* A new TCP flow started by a SYN: embryonic until proven (shared.h). */
static __always_inline struct xdpgw_embryonic *
lb_new_embryonic(const struct xdpgw_flow_key *fk, const struct xdpgw_vip *vip,
		 const struct xdpgw_backend *be, __u32 backend_id, int *created)
{
	struct xdpgw_embryonic e = {};

	lb_flow_init(&e.flow, fk, vip, be, backend_id);
	e.flags = XDPGW_EMB_F_SYN;
	*created = lb_insert_pair(&lb_embryonic, fk, &e.flow, XDPGW_CONN_EMBRYONIC_INSERTED);
	return bpf_map_lookup_elem(&lb_embryonic, fk);
}

/* Moves an embryonic flow (its forward entry `emb` under `fk`, and for NAT
 * its reverse one) into conn_table, with the counts it has so far; the
 * entries are copied map to map (the stack has no room for a copy). When
 * another CPU promoted it first, its entries stay. Returns the established
 * entry. */
static __always_inline struct xdpgw_flow *
lb_promote(const struct xdpgw_flow_key *fk, const struct xdpgw_embryonic *emb)
{
	const struct xdpgw_embryonic *reply = NULL;
	struct xdpgw_flow_key rk;

	if (emb->flow.action == XDPGW_FLOW_LB_NAT) {
		lb_reverse_key(fk, &emb->flow, &rk);
		reply = bpf_map_lookup_elem(&lb_embryonic, &rk);
	}
	if (bpf_map_update_elem(&conn_table, fk, &emb->flow, BPF_NOEXIST) == 0) {
		conn_count(XDPGW_CONN_INSERTED, 1);
		conn_count(XDPGW_CONN_PROMOTED, 1);
		if (reply && bpf_map_update_elem(&conn_table, &rk, &reply->flow, BPF_ANY) == 0)
			conn_count(XDPGW_CONN_INSERTED, 1);
	}
	if (reply && bpf_map_delete_elem(&lb_embryonic, &rk) == 0)
		conn_count(XDPGW_CONN_EMBRYONIC_DELETED, 1);
	if (bpf_map_delete_elem(&lb_embryonic, fk) == 0)
		conn_count(XDPGW_CONN_EMBRYONIC_DELETED, 1);
	return bpf_map_lookup_elem(&conn_table, fk);
}

/* Whether a source prefix may start another UDP flow this second on this
 * CPU (lb_udp_new_flows): `cap` per second, 0 for no cap. */
static __always_inline int lb_udp_may_start(const struct xdpgw_flow_key *fk, __u32 cap)
{
	struct xdpgw_prefix_key pk = { .family = fk->family };
	struct xdpgw_new_flow_window *w, fresh = {};
	__u64 window = bpf_ktime_get_ns() >> 30; /* ~1 s */

	if (!cap)
		return 1;
	if (fk->family == AF_INET)
		__builtin_memcpy(pk.addr, fk->src, XDPGW_UDP_CAP_V4_PREFIX / 8);
	else
		__builtin_memcpy(pk.addr, fk->src, XDPGW_UDP_CAP_V6_PREFIX / 8);
	w = bpf_map_lookup_elem(&lb_udp_new_flows, &pk);
	if (!w) {
		fresh.window = window;
		fresh.count = 1;
		bpf_map_update_elem(&lb_udp_new_flows, &pk, &fresh, BPF_ANY);
		return 1;
	}
	if (w->window != window) {
		w->window = window;
		w->count = 0;
	}
	if (w->count >= cap)
		return 0;
	w->count++;
	return 1;
}

#define LB_TCP_FIN 0x01
#define LB_TCP_SYN 0x02
#define LB_TCP_RST 0x04
#define LB_TCP_ACK 0x10

/* What the embryonic rules read of a TCP header (the handler checked it). */
struct lb_tcp {
	__u32 seq;
	__u32 ack_seq;
	__u8 flags;
};

static __always_inline int lb_tcp_of(struct xdp_md *ctx, const struct xdpgw_pkt_meta *meta,
				     struct lb_tcp *t)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct tcphdr *tcp = data + (meta->l4_off & XDPGW_MAX_L4_OFFSET);

	if ((void *)(tcp + 1) > data_end)
		return -1;
	t->seq = bpf_ntohl(tcp->seq);
	t->ack_seq = bpf_ntohl(tcp->ack_seq);
	t->flags = ((__u8 *)tcp)[13];
	return 0;
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

/* Sends a packet of a known flow the way the flow goes. `flow` is the
 * conn_table entry, counted with the hits `held` (this CPU's cache slot of
 * the flow, or NULL) held back, or, when `cached`, the cache slot's copy,
 * which counts the hit itself. A flow SYN cookies opened goes to the
 * synproxy stage (XDPGW_SYNPROXY) unless that stage is the caller and has
 * translated the packet (`translated`, a constant at each call site). */
static __always_inline int lb_apply(struct xdp_md *ctx,
				    struct xdpgw_pkt_meta *meta,
				    const struct flow_ports *fp,
				    struct xdpgw_flow *flow, int new_flow, int cached,
				    const struct xdpgw_lb_cache_slot *held,
				    struct xdpgw_fwd_request *fwd, const int translated)
{
	__u64 bytes = frame_len(ctx);
	struct flow_ports out_ports = *fp;
	__u32 reason;

	if (!translated && (flow->flags & XDPGW_FLOW_F_SYNPROXY))
		return XDPGW_SYNPROXY;
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
		if (translated)
			return XDPGW_GO_ON; /* cookies are for NAT flows only */
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

/* The generation's UDP new-flow cap (0: none). */
static __always_inline __u32 lb_udp_cap(const struct xdpgw_pkt_meta *meta)
{
	const struct xdpgw_lb_settings *lbs;
	__u32 zero = 0;

	lbs = cfg_lookup(&cfg_lb, meta->gen, &zero);
	return lbs ? lbs->udp_new_flows : 0;
}

/* Whether a non-SYN packet of an embryonic flow proves the client (see
 * struct xdpgw_embryonic). */
static __always_inline int lb_proven(const struct xdpgw_flow_key *key,
				     const struct xdpgw_embryonic *emb, const struct lb_tcp *tcp)
{
	const struct xdpgw_embryonic *reply;
	struct xdpgw_flow_key rk;

	if (tcp->flags & (LB_TCP_SYN | LB_TCP_RST))
		return 0;
	if (emb->flow.action == XDPGW_FLOW_LB_DSR)
		return 1;
	if (!(tcp->flags & LB_TCP_ACK))
		return 0;
	lb_reverse_key(key, &emb->flow, &rk);
	reply = bpf_map_lookup_elem(&lb_embryonic, &rk);
	return reply && (reply->flags & XDPGW_EMB_F_SERVER_ISN) &&
	       tcp->ack_seq == reply->server_isn + 1;
}

/* A new established flow of `vip` on the backend Maglev picks, in
 * conn_table; NULL when the VIP has no usable backend. */
static __always_inline struct xdpgw_flow *
lb_start_flow(const struct xdpgw_flow_key *key, const struct xdpgw_vip *vip, __u32 gen,
	      int *created)
{
	const struct xdpgw_backend *be;
	__u32 backend_id = 0;

	be = lb_pick_backend(vip, key, gen, &backend_id);
	/* NAT cannot translate between families; DSR can carry either. */
	if (!be || (vip->mode == XDPGW_LB_NAT && be->family != key->family))
		return NULL;
	return lb_new_flow(key, vip, be, backend_id, created);
}

/* Whether `vip` may start another flow by a SYN this second on this CPU
 * (its syn_rate_limit). */
static __always_inline int lb_syn_may_start(const struct xdpgw_vip *vip)
{
	struct xdpgw_new_flow_window *w;
	__u32 id = vip->vip_id;
	__u64 window = bpf_ktime_get_ns() >> 30; /* ~1 s */

	w = bpf_map_lookup_elem(&lb_vip_syn_windows, &id);
	if (!w)
		return 1; /* cannot happen: ids are below XDPGW_MAX_VIPS */
	if (w->window != window) {
		w->window = window;
		w->count = 0;
	}
	if (w->count >= vip->syn_rate_limit)
		return 0;
	w->count++;
	return 1;
}

/* Whether `vip` answers SYNs with cookies now. */
static __always_inline int lb_synproxy_on(const struct xdpgw_vip *vip)
{
	__u32 id = vip->vip_id, *active;

	if (vip->flags & XDPGW_VIP_F_SYNPROXY_ON)
		return 1;
	if (!(vip->flags & XDPGW_VIP_F_SYNPROXY_AUTO))
		return 0;
	active = bpf_map_lookup_elem(&synproxy_active, &id);
	return active && *active;
}

/* lb_tcp_flow's `*reason` for a packet the synproxy stage takes. */
#define LB_TO_SYNPROXY 0xFFFFFFFEu

/* The flow of a TCP packet to a VIP that conn_table does not know. A SYN
 * starts (or repeats) an embryonic flow; the packet that proves it promotes
 * it (`*fill`: an established flow, which the CPU's cache may hold); any
 * other packet of a flow no table knows (one whose entry was evicted)
 * starts an established flow as before; a SYN over its VIP's syn_rate_limit
 * starts nothing. NULL: no usable backend, or `*reason` (LB_TO_SYNPROXY: the
 * VIP answers with cookies). */
static __always_inline struct xdpgw_flow *
lb_tcp_flow(const struct xdpgw_flow_key *key, const struct lb_tcp *tcp,
	    const struct xdpgw_vip *vip, __u32 gen, int *created, int *fill, __u32 *reason)
{
	const struct xdpgw_backend *be;
	struct xdpgw_embryonic *emb;
	struct xdpgw_flow *flow;
	__u32 backend_id = 0;

	emb = bpf_map_lookup_elem(&lb_embryonic, key);
	if (emb) {
		if (lb_proven(key, emb, tcp)) {
			flow = lb_promote(key, emb);
			if (flow) {
				*fill = 1;
				return flow;
			}
		} else if (!(tcp->flags & LB_TCP_SYN)) {
			conn_count(XDPGW_CONN_PROMOTION_REFUSED, 1);
		}
		return &emb->flow;
	}
	/* With cookies on, nothing is stored before a handshake: a SYN gets
	 * a cookie, an ACK must carry one (flows that started before
	 * cookies came on finish above, from their embryonic entries). */
	if (lb_synproxy_on(vip)) {
		*reason = LB_TO_SYNPROXY;
		return NULL;
	}
	if (!(tcp->flags & LB_TCP_SYN)) {
		*fill = 1;
		return lb_start_flow(key, vip, gen, created);
	}
	if (vip->syn_rate_limit && !lb_syn_may_start(vip)) {
		*reason = XDPGW_R_DROP_LB_SYN_RATE;
		return NULL;
	}
	be = lb_pick_backend(vip, key, gen, &backend_id);
	if (!be || (vip->mode == XDPGW_LB_NAT && be->family != key->family))
		return NULL;
	emb = lb_new_embryonic(key, vip, be, backend_id, created);
	return emb ? &emb->flow : NULL;
}

/* The flow of a UDP packet to a VIP that conn_table does not know: a new
 * established one, unless its source prefix is over its cap. Then it is
 * not stored: DSR needs no state to deliver it (the backend answers
 * directly), so it goes statelessly by Maglev, in this CPU's scratch entry
 * (`*cached`: it counts the packet itself); NAT could not translate the
 * replies, so it is dropped (`*reason`). */
static __always_inline struct xdpgw_flow *
lb_udp_flow(const struct xdpgw_flow_key *key, const struct xdpgw_vip *vip,
	    const struct xdpgw_pkt_meta *meta, int *created, int *cached, int *fill,
	    __u32 *reason)
{
	const struct xdpgw_backend *be;
	struct xdpgw_flow *scratch;
	__u32 backend_id = 0, zero = 0;

	if (lb_udp_may_start(key, lb_udp_cap(meta))) {
		*fill = 1;
		return lb_start_flow(key, vip, meta->gen, created);
	}
	conn_count(XDPGW_CONN_UDP_CAPPED, 1);
	if (vip->mode == XDPGW_LB_NAT) {
		*reason = XDPGW_R_DROP_LB_NEW_FLOW_CAP;
		return NULL;
	}
	be = lb_pick_backend(vip, key, meta->gen, &backend_id);
	scratch = bpf_map_lookup_elem(&lb_scratch, &zero);
	if (!be || !scratch)
		return NULL;
	__builtin_memset(scratch, 0, sizeof(*scratch));
	lb_flow_init(scratch, key, vip, be, backend_id);
	*created = 1;
	*cached = 1;
	return scratch;
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
	const struct xdpgw_vip *vip;
	/* Aligned: flow_key_equal() and the hashes read it in words. */
	struct xdpgw_flow_key key __attribute__((aligned(8)));
	struct xdpgw_lb_cache_slot *slot, *held = NULL;
	struct lb_cache_state *state;
	struct xdpgw_embryonic *emb;
	struct xdpgw_flow *flow;
	struct lb_tcp tcp = {};
	__u32 idx, reason = XDPGW_R_DROP_LB_NO_BACKEND;
	int verdict, created = 0, cached = 0, fill = 0;

	/* Tagged frames belong to kernel VLAN devices; options and
	 * extension headers go the kernel's way too (see router.h). */
	if (meta->vlan_depth ||
	    (meta->flags & (XDPGW_META_F_IPV4_OPTIONS | XDPGW_META_F_HOP_BY_HOP)))
		return XDPGW_GO_ON;
	if (flow_key_from_packet(ctx, meta, fp->sport, fp->dport, &key))
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
				flow = &slot->flow;
				cached = 1;
				goto apply;
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
		fill = 1;
		goto apply;
	}
	if (key.proto == IPPROTO_TCP && lb_tcp_of(ctx, meta, &tcp))
		return XDPGW_GO_ON; /* cannot happen: the handler checked it */
	vip = lb_find_vip(&key, meta->gen);
	if (!vip) {
		/* A backend's SYN-ACK of an embryonic NAT flow: the
		 * sequence number the client's ACK must answer. */
		if (key.proto != IPPROTO_TCP ||
		    (tcp.flags & (LB_TCP_SYN | LB_TCP_ACK)) != (LB_TCP_SYN | LB_TCP_ACK))
			return XDPGW_GO_ON;
		emb = bpf_map_lookup_elem(&lb_embryonic, &key);
		if (!emb || emb->flow.action != XDPGW_FLOW_LB_REVERSE_NAT)
			return XDPGW_GO_ON;
		emb->server_isn = tcp.seq;
		emb->flags |= XDPGW_EMB_F_SERVER_ISN;
		flow = &emb->flow;
		goto apply;
	}
	if (key.proto == IPPROTO_TCP)
		flow = lb_tcp_flow(&key, &tcp, vip, meta->gen, &created, &fill, &reason);
	else
		flow = lb_udp_flow(&key, vip, meta, &created, &cached, &fill, &reason);
	if (!flow)
		return reason == LB_TO_SYNPROXY ? XDPGW_SYNPROXY : drop(ctx, reason);
apply:
	/* One place applies whatever flow was found: lb_apply is inlined, and
	 * each copy costs verifier instructions and stack. */
	verdict = lb_apply(ctx, meta, fp, flow, created, cached, held, fwd, 0);
	if (verdict == XDPGW_FORWARD && fill && slot)
		lb_cache_fill(slot, &key, flow);
	return verdict;
}

#endif /* XDPGW_LB_H */
