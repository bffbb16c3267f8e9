// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The minimal XDP router, the reference for a forwarder that routes: the
 * shape of the kernel's samples/bpf/xdp_fwd and of the XDP paper's router
 * (Høiland-Jørgensen et al., CoNEXT 2018). Parse Ethernet and IPv4/IPv6,
 * hand anything else and any packet whose TTL / hop limit would expire to
 * the kernel, look the destination up with bpf_fib_lookup, then rewrite
 * both MACs, decrement the TTL (incremental IPv4 checksum) and redirect
 * through a DEVMAP. No VLANs, no IPv4 options check, no policy, no
 * counters: what a routing XDP program cannot do without.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "bench_shared.h"

/* AF_INET / AF_INET6 without <sys/socket.h> (not usable with -target bpf). */
#define XBN_AF_INET 2
#define XBN_AF_INET6 10

/* Egress ports, key = value = ifindex, so the FIB's answer is the key.
 * Written by the benchmark from inside the gateway's namespace. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, XBN_FIB_MAX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} tx_ports SEC(".maps");

/* RFC 1624 incremental update for TTL - 1 (the TTL is the high byte of its
 * 16-bit word), as the kernel's ip_decrease_ttl() does it. */
static __always_inline void ipv4_decrease_ttl(struct iphdr *ip)
{
	__u32 check = ip->check;

	check += bpf_htons(0x0100);
	ip->check = (__u16)(check + (check >= 0xFFFF));
	ip->ttl--;
}

/* Both MACs from the FIB's answer, then the redirect. An egress port
 * missing from tx_ports goes to the kernel. */
static __always_inline int forward(struct ethhdr *eth, const struct bpf_fib_lookup *fib)
{
	__builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
	return bpf_redirect_map(&tx_ports, fib->ifindex, XDP_PASS);
}

SEC("xdp")
int xbn_fib_min(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct bpf_fib_lookup fib = {};

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			return XDP_DROP;
		/* The kernel answers with ICMP time exceeded. */
		if (ip->ttl <= 1)
			return XDP_PASS;
		fib.family = XBN_AF_INET;
		fib.tos = ip->tos;
		fib.l4_protocol = ip->protocol;
		fib.tot_len = bpf_ntohs(ip->tot_len);
		fib.ipv4_src = ip->saddr;
		fib.ipv4_dst = ip->daddr;
		fib.ifindex = ctx->ingress_ifindex;
		/* NO_NEIGH and the rest: the kernel resolves or answers. */
		if (bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS)
			return XDP_PASS;
		ipv4_decrease_ttl(ip);
		return forward(eth, &fib);
	}

	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return XDP_DROP;
		if (ip6->hop_limit <= 1)
			return XDP_PASS;
		fib.family = XBN_AF_INET6;
		fib.flowinfo = *(__be32 *)ip6 & bpf_htonl(0x0FFFFFFF);
		fib.l4_protocol = ip6->nexthdr;
		fib.tot_len = bpf_ntohs(ip6->payload_len);
		__builtin_memcpy(fib.ipv6_src, &ip6->saddr, sizeof(fib.ipv6_src));
		__builtin_memcpy(fib.ipv6_dst, &ip6->daddr, sizeof(fib.ipv6_dst));
		fib.ifindex = ctx->ingress_ifindex;
		if (bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS)
			return XDP_PASS;
		ip6->hop_limit--;
		return forward(eth, &fib);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
