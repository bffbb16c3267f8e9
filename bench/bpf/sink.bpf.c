// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark sink: drops every frame and counts it, separating the
 * generator's frames (UDP to its destination port, also inside one IPIP or
 * IPv6-in-IPv6 header, as a DSR load balancer sends them to its backends)
 * from everything else the gateway's kernel sends on its own (IPv6 neighbour discovery, MLD reports),
 * so "forwarded" counts exactly the frames that went through the path.
 *
 * Attached in native mode to the sink's veth end, it also fulfils the veth
 * rule that frames XDP-redirected into a veth are only delivered when the
 * peer runs an XDP program.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "bench_shared.h"

/* The generator's UDP destination port, network order. Set before load. */
const volatile __u16 match_dport_be = 0;

/* Frames and bytes per enum xbn_sink_counter, per CPU (no atomics on the
 * hot path). Written here, summed over CPUs by the benchmark. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XBN_SINK_COUNTERS);
	__type(key, __u32);
	__type(value, struct xbn_counter);
} sink_stats SEC(".maps");

/* Where the header after an IP header starts and which protocol it is
 * (IPPROTO_*), or -1 when the IP header is cut short. */
static __always_inline int next_header(void *ip, __u16 eth_proto, void *data_end, void **next)
{
	if (eth_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip4 = ip;

		if ((void *)(ip4 + 1) > data_end || ip4->ihl < 5)
			return -1;
		*next = ip + ip4->ihl * 4;
		return ip4->protocol;
	}
	if (eth_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = ip;

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		*next = ip6 + 1;
		return ip6->nexthdr;
	}
	return -1;
}

static __always_inline __u32 classify(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	struct udphdr *udp;
	void *next = NULL;

	if ((void *)(eth + 1) > data_end)
		return XBN_SINK_OTHER;
	int proto = next_header(eth + 1, eth->h_proto, data_end, &next);

	/* One IPIP / IPv6-in-IPv6 header, as a DSR load balancer sends the
	 * generator's frames to a backend that would decapsulate them. */
	if (proto == IPPROTO_IPIP)
		proto = next_header(next, bpf_htons(ETH_P_IP), data_end, &next);
	else if (proto == IPPROTO_IPV6)
		proto = next_header(next, bpf_htons(ETH_P_IPV6), data_end, &next);
	if (proto != IPPROTO_UDP)
		return XBN_SINK_OTHER;
	udp = next;
	if ((void *)(udp + 1) > data_end || udp->dest != match_dport_be)
		return XBN_SINK_OTHER;
	return XBN_SINK_MATCHED;
}

SEC("xdp")
int xbn_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 key = classify(data, data_end);
	struct xbn_counter *c = bpf_map_lookup_elem(&sink_stats, &key);

	if (c) {
		c->packets++;
		c->bytes += data_end - data;
	}
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
