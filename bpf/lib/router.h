/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The router action: decide whether XDP may forward the packet, look up the
 * route (kernel FIB or static LPM tries), rewrite L2 + TTL and redirect into
 * the tx_ports DEVMAP. Everything XDP should not forward goes to the kernel
 * with its own reason, so the kernel sends the ICMP errors and resolves
 * neighbours. Optionally first hands the packet to another CPU (CPUMAP).
 */
#ifndef XDPGW_ROUTER_H
#define XDPGW_ROUTER_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "csum.h"
#include "maps.h"
#include "parse.h"
#include "verdict.h"
#include "stages.h"
#include "features.h"
#include "flow_export.h"

/* The L4 identity of a packet, as far as routing and steering need it. */
struct flow_ports {
	__u16 sport; /* network order; 0 when the protocol has no ports */
	__u16 dport;
};

/* Both routing sources answer in the kernel's format: struct bpf_fib_lookup
 * (ifindex, smac, dmac), one stack slot for the question and the answer. */

/* The gateway owns `addr`: looked up only to name why a packet is not
 * forwarded (a map-in-map hash lookup costs as much as a route lookup). */
static __always_inline int is_local_addr(__u32 gen, __u32 family,
					 const void *addr, __u32 len)
{
	struct xdpgw_addr_key key = { .family = family };

	if (len == 4)
		__builtin_memcpy(key.addr, addr, 4);
	else
		__builtin_memcpy(key.addr, addr, 16);
	return cfg_lookup(&cfg_local, gen, &key) != NULL;
}

static __always_inline __u32 fib_result_reason(int rc)
{
	switch (rc) {
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
	case BPF_FIB_LKUP_RET_NOT_FWDED: /* no route, or not unicast */
		return XDPGW_R_PASS_NO_ROUTE;
	case BPF_FIB_LKUP_RET_FWD_DISABLED:
		return XDPGW_R_PASS_FWD_DISABLED;
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		return XDPGW_R_PASS_NO_NEIGH;
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		return XDPGW_R_PASS_FRAG_NEEDED;
	default:
		return XDPGW_R_PASS_FIB_OTHER;
	}
}

/* Static routing, one lookup in the generation's trie, which also holds the
 * gateway's own addresses as host routes (XDPGW_NH_LOCAL): 0 with the egress
 * in `out` (ifindex, smac, dmac), or the pass reason. `ttl` is the packet's
 * TTL / hop limit. */
static __always_inline __u32 static_route(__u32 gen, void *lpm_outer, const void *key,
					  __u32 ttl, __u32 l3_len, struct bpf_fib_lookup *out)
{
	struct xdpgw_route *route = cfg_lookup(lpm_outer, gen, key);
	struct xdpgw_nexthop *nh;
	__u32 nh_id;

	if (route && route->nexthop_id == XDPGW_NH_LOCAL)
		return XDPGW_R_PASS_LOCAL_DEST;
	if (ttl <= 1)
		return XDPGW_R_PASS_TTL_EXCEEDED;
	if (!route)
		return XDPGW_R_PASS_NO_ROUTE;
	nh_id = route->nexthop_id;
	nh = cfg_lookup(&cfg_nexthops, gen, &nh_id);
	if (!nh || !(nh->flags & XDPGW_NH_F_RESOLVED))
		return XDPGW_R_PASS_NO_NEIGH;
	if (l3_len > nh->mtu)
		return XDPGW_R_PASS_FRAG_NEEDED;
	out->ifindex = nh->ifindex;
	__builtin_memcpy(out->dmac, nh->dmac, 6);
	__builtin_memcpy(out->smac, nh->smac, 6);
	return 0;
}

/* Kernel-route lookup (routing.source = "kernel"): the daemon's route mirror
 * keeps kr_routes4/6 and kr_nexthops equal to the kernel's tables (its local
 * table included, as pass_local_dest entries). Returns 0 with the egress in
 * `out` (ifindex, smac, dmac), a pass reason, or KROUTE_ASK_FIB for a prefix
 * only bpf_fib_lookup decides exactly (multipath, policy rules): the caller
 * then asks the FIB. `ttl` is the packet's TTL / hop limit. */
#define KROUTE_ASK_FIB 0xffffffffu

static __always_inline __u32 kernel_route(void *trie, const void *key, __u32 ttl,
					  __u32 l3_len, struct bpf_fib_lookup *out)
{
	struct xdpgw_kroute *route = bpf_map_lookup_elem(trie, key);
	struct xdpgw_knexthop *nh;
	__u32 nh_id;

	if (route && route->pass_reason == XDPGW_R_PASS_LOCAL_DEST)
		return XDPGW_R_PASS_LOCAL_DEST;
	if (!route)
		return ttl <= 1 ? XDPGW_R_PASS_TTL_EXCEEDED : XDPGW_R_PASS_NO_ROUTE;
	if (route->flags & XDPGW_KROUTE_F_FIB)
		return KROUTE_ASK_FIB;
	if (ttl <= 1)
		return XDPGW_R_PASS_TTL_EXCEEDED;
	if (route->pass_reason)
		return route->pass_reason;
	nh_id = route->nexthop_id;
	nh = bpf_map_lookup_elem(&kr_nexthops, &nh_id);
	if (!nh || !(nh->flags & XDPGW_NH_F_RESOLVED))
		return XDPGW_R_PASS_NO_NEIGH;
	if (l3_len > nh->mtu)
		return nh->mtu ? XDPGW_R_PASS_FRAG_NEEDED : XDPGW_R_PASS_EGRESS_NOT_PORT;
	out->ifindex = nh->ifindex;
	__builtin_memcpy(out->dmac, nh->dmac, 6);
	__builtin_memcpy(out->smac, nh->smac, 6);
	return 0;
}

/* The kernel's FIB, asked `p`: 0 with its answer in `p`, or the pass reason. The gateway's
 * own addresses are not forwarded by the FIB either (not unicast routes), so
 * the local table is only read to name the reason. */
static __always_inline __u32 fib_route(struct xdp_md *ctx, __u32 gen, __u32 family,
				       const void *daddr, __u32 ttl,
				       struct bpf_fib_lookup *p)
{
	int rc;

	if (ttl <= 1)
		return is_local_addr(gen, family, daddr, family == AF_INET ? 4 : 16)
			       ? XDPGW_R_PASS_LOCAL_DEST
			       : XDPGW_R_PASS_TTL_EXCEEDED;
	if (!have_feature(XDPGW_FEAT_FIB))
		return XDPGW_R_PASS_ROUTING_OFF;
	rc = bpf_fib_lookup(ctx, p, sizeof(*p), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return is_local_addr(gen, family, daddr, family == AF_INET ? 4 : 16)
			       ? XDPGW_R_PASS_LOCAL_DEST
			       : fib_result_reason(rc);
	return 0;
}

static __always_inline __u32 route_ipv4(struct xdp_md *ctx, struct iphdr *ip,
					const struct xdpgw_pkt_meta *meta,
					const struct flow_ports *fp,
					__u32 source, struct bpf_fib_lookup *p)
{
	__u32 daddr = ip->daddr;
	__u32 dst_host = bpf_ntohl(daddr);

	if (meta->flags & XDPGW_META_F_IPV4_OPTIONS)
		return XDPGW_R_PASS_IPV4_OPTIONS;
	if ((dst_host & 0xF0000000) == 0xE0000000 || dst_host == 0xFFFFFFFF)
		return XDPGW_R_PASS_MULTICAST;

	if (source == XDPGW_ROUTE_STATIC) {
		struct xdpgw_lpm_v4_key key = { .prefixlen = 32, .addr = daddr };

		return static_route(meta->gen, &cfg_routes4, &key, ip->ttl, meta->l3_len, p);
	}
	if (source == XDPGW_ROUTE_KERNEL) {
		struct xdpgw_lpm_v4_key key = { .prefixlen = 32, .addr = daddr };
		__u32 reason = kernel_route(&kr_routes4, &key, ip->ttl, meta->l3_len, p);

		if (reason != KROUTE_ASK_FIB)
			return reason;
	}

	__builtin_memset(p, 0, sizeof(*p));
	p->family = AF_INET;
	p->tos = ip->tos;
	p->l4_protocol = ip->protocol;
	p->sport = fp->sport;
	p->dport = fp->dport;
	p->tot_len = meta->l3_len;
	p->ipv4_src = ip->saddr;
	p->ipv4_dst = daddr;
	p->ifindex = ctx->ingress_ifindex;
	return fib_route(ctx, meta->gen, AF_INET, &daddr, ip->ttl, p);
}

static __always_inline int ipv6_is_multicast(const struct in6_addr *a)
{
	return a->in6_u.u6_addr8[0] == 0xff;
}

static __always_inline int ipv6_is_link_local(const struct in6_addr *a)
{
	return a->in6_u.u6_addr8[0] == 0xfe &&
	       (a->in6_u.u6_addr8[1] & 0xc0) == 0x80;
}

static __always_inline __u32 route_ipv6(struct xdp_md *ctx, struct ipv6hdr *ip6,
					const struct xdpgw_pkt_meta *meta,
					const struct flow_ports *fp,
					__u32 source, struct bpf_fib_lookup *p)
{
	if (meta->flags & XDPGW_META_F_HOP_BY_HOP)
		return XDPGW_R_PASS_IPV6_HOP_BY_HOP;
	if (ipv6_is_multicast(&ip6->daddr))
		return XDPGW_R_PASS_MULTICAST;
	if (ipv6_is_link_local(&ip6->daddr) || ipv6_is_link_local(&ip6->saddr))
		return XDPGW_R_PASS_LINK_LOCAL;

	if (source == XDPGW_ROUTE_STATIC) {
		struct xdpgw_lpm_v6_key key = { .prefixlen = 128 };

		__builtin_memcpy(key.addr, &ip6->daddr, 16);
		return static_route(meta->gen, &cfg_routes6, &key, ip6->hop_limit,
				    meta->l3_len, p);
	}
	if (source == XDPGW_ROUTE_KERNEL) {
		struct xdpgw_lpm_v6_key key = { .prefixlen = 128 };
		__u32 reason;

		__builtin_memcpy(key.addr, &ip6->daddr, 16);
		reason = kernel_route(&kr_routes6, &key, ip6->hop_limit, meta->l3_len, p);
		if (reason != KROUTE_ASK_FIB)
			return reason;
	}

	__builtin_memset(p, 0, sizeof(*p));
	p->family = AF_INET6;
	p->flowinfo = *(__be32 *)ip6 & bpf_htonl(0x0FFFFFFF);
	p->l4_protocol = meta->l4_proto;
	p->sport = fp->sport;
	p->dport = fp->dport;
	p->tot_len = meta->l3_len;
	__builtin_memcpy(p->ipv6_src, &ip6->saddr, 16);
	__builtin_memcpy(p->ipv6_dst, &ip6->daddr, 16);
	p->ifindex = ctx->ingress_ifindex;
	return fib_route(ctx, meta->gen, AF_INET6, &ip6->daddr, ip6->hop_limit, p);
}

/* Sets the redirect target before anything is rewritten; the frame leaves
 * only when the program returns XDP_REDIRECT. tx_ports holds the ports of
 * both live generations, so an egress that is not a gateway port is found
 * here, for the FIB's and the static routes' answers alike. */
static __always_inline __u32 redirect_to(__u32 ifindex)
{
	if (bpf_redirect_map(&tx_ports, ifindex, 0) != XDP_REDIRECT)
		return XDPGW_R_PASS_EGRESS_NOT_PORT;
	return 0;
}

/* A packet the router will not forward goes to the kernel with its reason;
 * except an encapsulated one that is too big: the kernel would answer our own
 * tunnel source, not the client, so it is dropped and counted. */
static __always_inline int not_forwarded(struct xdp_md *ctx, __u32 reason,
					 __u32 fwd_reason)
{
	if (reason == XDPGW_R_PASS_FRAG_NEEDED && fwd_reason == XDPGW_R_FWD_LB_DSR)
		return drop(ctx, XDPGW_R_DROP_LB_ENCAP_TOO_BIG);
	return pass(ctx, reason);
}

/* Route, rewrite and redirect. `meta` describes the packet as it is now (the
 * dispatcher's, or updated by a rewrite); `fp` are the L4 ports the handler
 * found (used by the FIB's multipath hash). `fwd_reason` is what a redirect
 * is counted as. `may_snat`, a constant at each call site: 0 where only
 * load-balanced packets come (the synproxy stage), whose frame has no room
 * for the source NAT call's. */
static __always_inline int route_and_redirect(struct xdp_md *ctx,
					      const struct xdpgw_pkt_meta *meta,
					      const struct flow_ports *fp,
					      __u32 fwd_reason, const int may_snat)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 source = meta->route_source, reason;
	struct bpf_fib_lookup eg;
	struct ethhdr *eth = data;

	if (source != XDPGW_ROUTE_FIB && source != XDPGW_ROUTE_STATIC &&
	    source != XDPGW_ROUTE_KERNEL)
		return pass(ctx, XDPGW_R_PASS_ROUTING_OFF);
	if (meta->vlan_depth)
		return pass(ctx, XDPGW_R_PASS_VLAN_TAGGED);
	if (meta->flags & XDPGW_META_F_FRAGMENT)
		return pass(ctx, meta->l3_proto == ETH_P_IP
					 ? XDPGW_R_PASS_IPV4_FRAGMENT
					 : XDPGW_R_PASS_IPV6_FRAGMENT);
	if ((void *)(eth + 1) > data_end)
		return drop(ctx, XDPGW_R_DROP_ETH_TRUNCATED);

	/* Untagged from here on: L3 starts right after the Ethernet header. */
	if (meta->l3_proto == ETH_P_IP) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			return drop(ctx, XDPGW_R_DROP_IPV4_TRUNCATED);
		reason = route_ipv4(ctx, ip, meta, fp, source, &eg);
		if (!reason)
			reason = redirect_to(eg.ifindex);
		if (reason)
			return not_forwarded(ctx, reason, fwd_reason);
		/* Source NAT needs the egress, so it runs here, once the
		 * route is known and before anything is rewritten. */
		if (may_snat && !(meta->skip & XDPGW_SKIP_SNAT)) {
			int verdict = xdpgw_snat_out(ctx, meta, eg.ifindex, fp->sport, fp->dport);

			if (verdict == XDPGW_FORWARD)
				fwd_reason = XDPGW_R_FWD_SNAT;
			else if (verdict != XDPGW_GO_ON)
				return verdict;
			/* The call may have rewritten the packet: its
			 * pointers are found again. */
			data = (void *)(long)ctx->data;
			data_end = (void *)(long)ctx->data_end;
			eth = data;
			ip = (void *)(eth + 1);
			if ((void *)(ip + 1) > data_end)
				return drop(ctx, XDPGW_R_DROP_IPV4_TRUNCATED);
		}
		ipv4_decrease_ttl(ip);
	} else {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return drop(ctx, XDPGW_R_DROP_IPV6_TRUNCATED);
		reason = route_ipv6(ctx, ip6, meta, fp, source, &eg);
		if (!reason)
			reason = redirect_to(eg.ifindex);
		if (reason)
			return not_forwarded(ctx, reason, fwd_reason);
		ip6->hop_limit--;
	}

	/* Flow export: off (the common case) costs one bit of the settings
	 * the dispatcher read anyway; on, the sampling countdown and, for a
	 * sampled packet, one call (flow_export.h). */
	if (!(meta->skip & XDPGW_SKIP_FLOW_EXPORT) && flow_sampled())
		xdpgw_flow_account(ctx, meta, eg.ifindex, fwd_reason);
	__builtin_memcpy(eth->h_dest, eg.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eg.smac, ETH_ALEN);
	return record(ctx, XDP_REDIRECT, fwd_reason);
}

/* ---- CPU steering -------------------------------------------------------- */

/* Symmetric flow hash: both directions of a flow give the same value, so
 * they land on the same CPU. Order-independent by sorting each pair. */
static __always_inline __u32 symmetric_hash(__u32 a, __u32 b, __u16 pa, __u16 pb,
					    __u8 proto)
{
	__u32 lo = a < b ? a : b, hi = a < b ? b : a;
	__u32 plo = pa < pb ? pa : pb, phi = pa < pb ? pb : pa;
	__u32 h = lo * 0x9E3779B1u;

	h ^= hi + 0x7F4A7C15u + (h << 6) + (h >> 2);
	h ^= ((plo << 16) | phi) + 0x7F4A7C15u + (h << 6) + (h >> 2);
	h ^= proto + 0x7F4A7C15u + (h << 6) + (h >> 2);
	/* final avalanche (murmur3 fmix32) */
	h ^= h >> 16;
	h *= 0x85EBCA6Bu;
	h ^= h >> 13;
	h *= 0xC2B2AE35u;
	h ^= h >> 16;
	return h;
}

static __always_inline __u32 flow_hash(struct xdp_md *ctx,
				       const struct xdpgw_pkt_meta *meta,
				       const struct flow_ports *fp)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 off = meta->l3_off & 0x1f;

	if (meta->l3_proto == ETH_P_IP) {
		struct iphdr *ip = data + off;

		if ((void *)(ip + 1) > data_end)
			return 0;
		return symmetric_hash(ip->saddr, ip->daddr, fp->sport,
				      fp->dport, meta->l4_proto);
	} else {
		struct ipv6hdr *ip6 = data + off;
		__u32 s = 0, d = 0;

		if ((void *)(ip6 + 1) > data_end)
			return 0;
		/* Fold each address to 32 bits by XOR, which keeps the hash
		 * symmetric. */
#pragma unroll
		for (int i = 0; i < 4; i++) {
			s ^= ip6->saddr.in6_u.u6_addr32[i];
			d ^= ip6->daddr.in6_u.u6_addr32[i];
		}
		return symmetric_hash(s, d, fp->sport, fp->dport,
				      meta->l4_proto);
	}
}

/* Hands the packet to the CPU its flow hash chooses when steering is on; the
 * CPUMAP entry's second-stage program (cpu_stage.bpf.c) then does the rest of
 * the work there, under the packet's generation: each generation has its own
 * CPUMAP. Returns XDPGW_GO_ON when the packet stays on this CPU (steering
 * off, or the CPU entry missing). */
static __always_inline int steer(struct xdp_md *ctx,
				 const struct xdpgw_pkt_meta *meta,
				 const struct flow_ports *fp)
{
	__u32 count = meta->cpu_count;
	__u32 idx, *cpu;
	long rc;

	if (!have_feature(XDPGW_FEAT_STEERING) || count == 0 || count > XDPGW_MAX_CPUS)
		return XDPGW_GO_ON;
	idx = flow_hash(ctx, meta, fp) % count;
	cpu = cfg_lookup(&cfg_cpus, meta->gen, &idx);
	if (!cpu)
		return XDPGW_GO_ON;
	/* Two calls, not one with a chosen map: each call site then keeps
	 * the kernel's inlined lookup for its map. */
	if (meta->gen)
		rc = bpf_redirect_map(&cpu_map_g1, *cpu, 0);
	else
		rc = bpf_redirect_map(&cpu_map_g0, *cpu, 0);
	if (rc != XDP_REDIRECT)
		return XDPGW_GO_ON;
	count_steer(meta->gen, 0);
	return record(ctx, XDP_REDIRECT, XDPGW_R_STEER_CPU);
}

#endif /* XDPGW_ROUTER_H */
