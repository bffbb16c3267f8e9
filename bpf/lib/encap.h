/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * DSR encapsulation: an outer IPv4 (IPIP) or IPv6 (IPv6-in-IPv6) header in
 * front of the packet's IP header, from the generation's tunnel source to
 * the backend, which decapsulates it (bpf/decap.bpf.c) and answers the
 * client directly. One frame for both outer families: room is made, the
 * Ethernet header moved in front of it and the parse result updated in one
 * place; only the header's own fields differ.
 */
#ifndef XDPGW_ENCAP_H
#define XDPGW_ENCAP_H

#include "router.h"

/* L3 header of an untagged frame (the load balancer only takes untagged
 * frames, like the router). */
#define LB_L3_OFF ((__u32)sizeof(struct ethhdr))

/* The inner packet's traffic class, which the outer header carries so that
 * queueing upstream of the backend treats the flow the same. */
static __always_inline int encap_inner_tos(struct xdp_md *ctx,
					   const struct xdpgw_pkt_meta *meta, __u8 *tos)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (meta->l3_proto == ETH_P_IP) {
		struct iphdr *inner = data + LB_L3_OFF;

		if ((void *)(inner + 1) > data_end)
			return XDPGW_R_DROP_IPV4_TRUNCATED;
		*tos = inner->tos;
	} else {
		struct ipv6hdr *inner = data + LB_L3_OFF;

		if ((void *)(inner + 1) > data_end)
			return XDPGW_R_DROP_IPV6_TRUNCATED;
		*tos = (inner->priority << 4) | (inner->flow_lbl[0] >> 4);
	}
	return 0;
}

static __always_inline void encap_fill_ipv4(struct iphdr *outer, __u8 tos, __u32 inner_len,
					    __u8 inner_proto, const __u8 *src, const __u8 *dst)
{
	outer->version = 4;
	outer->ihl = 5;
	outer->tos = tos;
	outer->tot_len = bpf_htons(inner_len + sizeof(*outer));
	outer->id = 0;
	outer->frag_off = bpf_htons(0x4000); /* DF: PMTU works end to end */
	outer->ttl = 64;
	outer->protocol = inner_proto;
	outer->check = 0;
	__builtin_memcpy(&outer->saddr, src, 4);
	__builtin_memcpy(&outer->daddr, dst, 4);
	outer->check = csum_words((const __u32 *)outer, 5);
}

static __always_inline void encap_fill_ipv6(struct ipv6hdr *outer, __u8 tos, __u32 inner_len,
					    __u8 inner_proto, const __u8 *src, const __u8 *dst)
{
	outer->version = 6;
	outer->priority = tos >> 4;
	outer->flow_lbl[0] = (tos & 0x0F) << 4;
	outer->flow_lbl[1] = 0;
	outer->flow_lbl[2] = 0;
	outer->payload_len = bpf_htons(inner_len);
	outer->nexthdr = inner_proto;
	outer->hop_limit = 64;
	__builtin_memcpy(&outer->saddr, src, 16);
	__builtin_memcpy(&outer->daddr, dst, 16);
}

/* Encapsulates the packet to `flow`'s backend and updates `meta` to describe
 * the outer packet. 0, or a drop reason. */
static __always_inline __u32 lb_encap(struct xdp_md *ctx,
				      struct xdpgw_pkt_meta *meta,
				      const struct xdpgw_flow *flow)
{
	const int outer_v4 = flow->target_family == AF_INET;
	const __u32 outer_len = outer_v4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);
	const __u8 inner_proto = meta->l3_proto == ETH_P_IP ? IPPROTO_IPIP : IPPROTO_IPV6;
	const __u32 inner_len = meta->l3_len;
	const struct xdpgw_lb_settings *lbs;
	void *data, *data_end;
	__u32 zero = 0, reason;
	__u8 tos = 0;

	lbs = cfg_lookup(&cfg_lb, meta->gen, &zero);
	if (!lbs)
		return XDPGW_R_DROP_LB_ENCAP_FAILED;
	reason = encap_inner_tos(ctx, meta, &tos);
	if (reason)
		return reason;
	if (bpf_xdp_adjust_head(ctx, -(int)outer_len))
		return XDPGW_R_DROP_LB_ENCAP_FAILED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	/* The old Ethernet header now starts where the outer header ends:
	 * its MACs move to the front (the router rewrites them anyway; only
	 * the type matters). */
	if (outer_v4) {
		struct iphdr *outer = data + sizeof(struct ethhdr);

		if ((void *)(outer + 1) + sizeof(struct ethhdr) > data_end)
			return XDPGW_R_DROP_LB_ENCAP_FAILED;
		__builtin_memcpy(data, (void *)(outer + 1), 12);
		encap_fill_ipv4(outer, tos, inner_len, inner_proto, lbs->tunnel_src4, flow->target);
	} else {
		struct ipv6hdr *outer = data + sizeof(struct ethhdr);

		if ((void *)(outer + 1) + sizeof(struct ethhdr) > data_end)
			return XDPGW_R_DROP_LB_ENCAP_FAILED;
		__builtin_memcpy(data, (void *)(outer + 1), 12);
		encap_fill_ipv6(outer, tos, inner_len, inner_proto, lbs->tunnel_src6, flow->target);
	}
	((struct ethhdr *)data)->h_proto = bpf_htons(outer_v4 ? ETH_P_IP : ETH_P_IPV6);
	meta->l3_len = inner_len + outer_len;
	meta->l4_off = LB_L3_OFF + outer_len;
	meta->l4_proto = inner_proto;
	meta->l3_proto = outer_v4 ? ETH_P_IP : ETH_P_IPV6;
	meta->flags = 0; /* the outer header has no options, no extensions */
	return 0;
}

#endif /* XDPGW_ENCAP_H */
