/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * An ICMP error (fragmentation needed / packet too big, unreachable, time
 * exceeded) about a packet the VIP sent to a client arrives addressed to the
 * VIP, quoting that packet: VIP:port -> client:port. The backend of the flow
 * is the one that must learn about it (PMTU discovery above all), so the
 * error follows the flow: DSR encapsulates it to the backend unchanged; NAT
 * rewrites the outer destination and the quoted source to the backend, with
 * every checksum that covers them.
 */

#ifndef XDPGW_LB_ICMP_H
#define XDPGW_LB_ICMP_H

#include "lb.h"

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

#endif /* XDPGW_LB_ICMP_H */
