// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Backend side of DSR: strips the outer IPv4 (IPIP) or IPv6 (IPv6-in-IPv6,
 * IPv4-in-IPv6) header the load balancer added and hands the inner packet to
 * the kernel, which delivers it to the VIP configured on the backend (e.g.
 * on lo) and answers the client directly. Needed because this kernel has no
 * ipip/ip6_tunnel modules; cheaper than them anyway. Everything that is not
 * a tunnel packet passes untouched.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xdpgw/shared.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPGW_DECAP_COUNT);
	__type(key, __u32);
	__type(value, struct xdpgw_counter);
} decap_stats SEC(".maps");

static __always_inline int count(struct xdp_md *ctx, __u32 what, int action)
{
	struct xdpgw_counter *c = bpf_map_lookup_elem(&decap_stats, &what);

	if (c) {
		c->packets++;
		c->bytes += (__u64)ctx->data_end - (__u64)ctx->data;
	}
	return action;
}

/* Inner EtherType for an outer protocol number, 0 if not a tunnel. */
static __always_inline __u16 inner_type(__u8 proto)
{
	if (proto == IPPROTO_IPIP)
		return ETH_P_IP;
	if (proto == IPPROTO_IPV6)
		return ETH_P_IPV6;
	return 0;
}

SEC("xdp")
int xdpgw_decap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 outer_len, outer_total;
	__u16 type;

	if ((void *)(eth + 1) > data_end)
		return count(ctx, XDPGW_DECAP_NOT_TUNNEL, XDP_PASS);

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			return count(ctx, XDPGW_DECAP_NOT_TUNNEL, XDP_PASS);
		type = inner_type(ip->protocol);
		if (!type)
			return count(ctx, XDPGW_DECAP_NOT_TUNNEL, XDP_PASS);
		/* Options or fragments: the kernel would have to reassemble
		 * before decapsulating; we do not, and say so. */
		if (ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3FFF)))
			return count(ctx, XDPGW_DECAP_MALFORMED, XDP_DROP);
		outer_len = sizeof(*ip);
		outer_total = bpf_ntohs(ip->tot_len);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return count(ctx, XDPGW_DECAP_NOT_TUNNEL, XDP_PASS);
		type = inner_type(ip6->nexthdr);
		if (!type)
			return count(ctx, XDPGW_DECAP_NOT_TUNNEL, XDP_PASS);
		outer_len = sizeof(*ip6);
		outer_total = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	} else {
		return count(ctx, XDPGW_DECAP_NOT_TUNNEL, XDP_PASS);
	}

	/* The outer length must cover at least an inner header of the
	 * announced family and fit in the frame. */
	if (outer_total < outer_len + (type == ETH_P_IP ? sizeof(struct iphdr)
							 : sizeof(struct ipv6hdr)) ||
	    (void *)eth + sizeof(*eth) + outer_total > data_end)
		return count(ctx, XDPGW_DECAP_MALFORMED, XDP_DROP);

	/* Move the MAC addresses forward over the outer header, then drop
	 * the bytes in front. */
	{
		struct ethhdr *moved = (void *)eth + outer_len;

		if ((void *)(moved + 1) > data_end)
			return count(ctx, XDPGW_DECAP_MALFORMED, XDP_DROP);
		__builtin_memmove(moved->h_source, eth->h_source, ETH_ALEN);
		__builtin_memmove(moved->h_dest, eth->h_dest, ETH_ALEN);
		moved->h_proto = bpf_htons(type);
	}
	if (bpf_xdp_adjust_head(ctx, (int)outer_len))
		return count(ctx, XDPGW_DECAP_MALFORMED, XDP_DROP);
	return count(ctx, XDPGW_DECAP_DONE, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
