/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Punt to the AF_XDP pipeline, and the verdicts it offloads.
 *
 * xdpgw_punt_check() runs for TCP and UDP before steering and routing
 * (pipeline.h):
 *  1. a flow whose verdict the pipeline wrote into conn_table (flag
 *     OFFLOADED) gets it here: forward (routed by XDP), pass or drop, and
 *     the flow's packet/byte counters show the offload;
 *  2. otherwise the first matching punt rule of the packet's generation
 *     redirects it into the AF_XDP socket of its (interface, rx queue);
 *     with no socket there (pipeline not running, crashed, restarting) the
 *     rule's fallback applies: pass to the kernel or drop, counted apart;
 *  3. anything else continues on the normal path.
 * A pipeline crash therefore never stops non-punted traffic: nothing here
 * depends on userspace except the XSKMAP slot, which has a fallback.
 */
#ifndef XDPGW_PUNT_H
#define XDPGW_PUNT_H

#include "maps.h"
#include "router.h"
#include "verdict.h"
#include "flow.h"

/* AF_XDP sockets of the pipeline by slot. XSKMAP: the only redirect target
 * that reaches an AF_XDP socket. Written by the pipeline (one slot per
 * socket, removed when the socket closes); read by punt_decide. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, XDPGW_MAX_XSKS);
	__type(key, __u32);
	__type(value, __u32);
} xsks __weak SEC(".maps");

/* (ingress ifindex, rx queue) -> slot in xsks. HASH: sparse ifindexes; the
 * pipeline writes an entry with each socket and deletes it on close. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDPGW_MAX_XSKS);
	__type(key, struct xdpgw_xsk_key);
	__type(value, __u32);
} xsk_slots __weak SEC(".maps");

/* Punt rules by generation: an ARRAY scanned in order (first match wins,
 * a rule without XDPGW_PUNT_F_VALID ends the list). Written by apply. */
struct xdpgw_punt_table {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPGW_MAX_PUNT_RULES);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct xdpgw_punt_rule));
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, XDPGW_CONFIG_GENERATIONS);
	__type(key, __u32);
	__array(values, struct xdpgw_punt_table);
} cfg_punt __weak SEC(".maps");

/* Whether the first `len` bits of two 16-byte addresses agree. */
static __always_inline int prefix_match(const __u8 *addr, const __u8 *pfx, __u32 len)
{
#pragma unroll
	for (int w = 0; w < 4; w++) {
		__u32 a, p, bits, mask;

		if (len <= (__u32)w * 32)
			break;
		bits = len - w * 32;
		__builtin_memcpy(&a, addr + w * 4, 4);
		__builtin_memcpy(&p, pfx + w * 4, 4);
		mask = bits >= 32 ? 0xffffffffu : bpf_htonl(~(0xffffffffu >> bits));
		if ((a ^ p) & mask)
			return 0;
	}
	return 1;
}

static __always_inline int punt_rule_matches(const struct xdpgw_punt_rule *r,
					     const struct xdpgw_flow_key *k)
{
	__u16 sport = bpf_ntohs(k->sport), dport = bpf_ntohs(k->dport);

	if (r->proto && r->proto != k->proto)
		return 0;
	if (r->family && r->family != k->family)
		return 0;
	if (sport < r->sport_lo || sport > r->sport_hi)
		return 0;
	if (dport < r->dport_lo || dport > r->dport_hi)
		return 0;
	if (r->src_prefixlen && !prefix_match(k->src, r->src, r->src_prefixlen))
		return 0;
	if (r->dst_prefixlen && !prefix_match(k->dst, r->dst, r->dst_prefixlen))
		return 0;
	return 1;
}

static __always_inline int punt_to_xsk(struct xdp_md *ctx, __u32 fallback_drop)
{
	struct xdpgw_xsk_key where = {
		.ifindex = ctx->ingress_ifindex,
		.queue = ctx->rx_queue_index,
	};
	__u32 *slot = bpf_map_lookup_elem(&xsk_slots, &where);

	/* The slot map and the XSKMAP are both checked: the pipeline may be
	 * between closing a socket and deleting its slot. */
	if (slot && bpf_redirect_map(&xsks, *slot, 0) == XDP_REDIRECT)
		return record(ctx, XDP_REDIRECT, XDPGW_R_PUNT_XSK);
	if (fallback_drop)
		return drop(ctx, XDPGW_R_DROP_PUNT_FALLBACK);
	return pass(ctx, XDPGW_R_PASS_PUNT_FALLBACK);
}

/* See the top of this file. Returns XDPGW_GO_ON when the packet is not
 * ours, XDPGW_FORWARD for an offloaded "forward", else the XDP action
 * (already counted). */
static __always_inline int punt_decide(struct xdp_md *ctx,
				       const struct xdpgw_pkt_meta *meta,
				       const struct flow_ports *fp,
				       struct xdpgw_fwd_request *fwd)
{
	struct xdpgw_flow_key key;
	struct xdpgw_flow *flow;
	void *rules;

	if (meta->flags & XDPGW_META_F_FRAGMENT)
		return XDPGW_GO_ON;
	{
		__u32 gen = meta->gen, first = 0;
		struct xdpgw_punt_rule *r0;

		rules = bpf_map_lookup_elem(&cfg_punt, &gen);
		if (!rules)
			return XDPGW_GO_ON;
		r0 = bpf_map_lookup_elem(rules, &first);
		/* No [punt] rules in this generation: nothing is punted, and
		 * verdicts a pipeline offloaded under an earlier config stop
		 * applying. Routers and load balancers without [punt] so skip
		 * a connection-table lookup on every TCP/UDP packet. */
		if (!r0 || !(r0->flags & XDPGW_PUNT_F_VALID))
			return XDPGW_GO_ON;
	}
	if (flow_key_from_packet(ctx, meta, fp->sport, fp->dport, &key))
		return XDPGW_GO_ON;

	flow = bpf_map_lookup_elem(&conn_table, &key);
	if (flow && (flow->flags & XDPGW_FLOW_F_OFFLOADED)) {
		if (__sync_fetch_and_add(&flow->packets, 1) == 0)
			emit_event(ctx, XDPGW_EV_FLOW_OFFLOADED, XDPGW_R_UNSPEC, &key);
		__sync_fetch_and_add(&flow->bytes, frame_len(ctx));
		flow->last_seen_ns = bpf_ktime_get_coarse_ns(); /* lb_touch's clock */
		switch (flow->action) {
		case XDPGW_FLOW_FORWARD:
			return request_forward(fwd, fp->sport, fp->dport,
					       XDPGW_R_FWD_FLOW_VERDICT);
		case XDPGW_FLOW_PASS:
			return pass(ctx, XDPGW_R_PASS_FLOW_VERDICT);
		case XDPGW_FLOW_DROP:
			return drop(ctx, XDPGW_R_DROP_FLOW_VERDICT);
		case XDPGW_FLOW_PUNT:
			return punt_to_xsk(ctx, 0);
		default:
			break;
		}
	}

	/* Unrolled by the verifier (within this global function, so once):
	 * bpf_loop would verify the step once but costs ~15 ns per packet. */
	for (__u32 i = 0; i < XDPGW_MAX_PUNT_RULES; i++) {
		__u32 idx = i;
		struct xdpgw_punt_rule *r = bpf_map_lookup_elem(rules, &idx);

		if (!r || !(r->flags & XDPGW_PUNT_F_VALID))
			break;
		if (punt_rule_matches(r, &key)) {
			emit_event(ctx, XDPGW_EV_NEW_FLOW, XDPGW_R_PUNT_XSK, &key);
			return punt_to_xsk(ctx, r->flags & XDPGW_PUNT_F_FALLBACK_DROP);
		}
	}
	return XDPGW_GO_ON;
}

#endif /* XDPGW_PUNT_H */
