/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The connection-table key of a packet, built one way for every user of
 * conn_table (the punt path, the load balancer, the AF_XDP pipeline in C++:
 * gateway/pipeline/packet.cpp builds the same bytes; test_punt checks it).
 */
#ifndef XDPGW_FLOW_H
#define XDPGW_FLOW_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>

#include "xdpgw/shared.h"
#include "parse.h"

/* Fills `key` from the packet's addresses (located through the dispatcher's
 * metadata), `sport`/`dport` (network order; 0 for protocols without ports)
 * and the L4 protocol. Family AF_INET/AF_INET6, addresses 16 bytes with IPv4
 * in the first 4, pad 0. Returns 0, or -1 when the IP header is out of
 * bounds. */
static __always_inline int flow_key_from_packet(struct xdp_md *ctx,
						const struct xdpgw_pkt_meta *meta,
						__u16 sport, __u16 dport,
						struct xdpgw_flow_key *key)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	/* l3_off is at most 14 + 2 VLAN tags; the mask keeps the verifier's
	 * range small. */
	__u32 off = meta->l3_off & 0x1f;

	__builtin_memset(key, 0, sizeof(*key));
	if (meta->l3_proto == ETH_P_IP) {
		struct iphdr *ip = data + off;

		if ((void *)(ip + 1) > data_end)
			return -1;
		__builtin_memcpy(key->src, &ip->saddr, 4);
		__builtin_memcpy(key->dst, &ip->daddr, 4);
		key->family = AF_INET;
	} else if (meta->l3_proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = data + off;

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		__builtin_memcpy(key->src, &ip6->saddr, 16);
		__builtin_memcpy(key->dst, &ip6->daddr, 16);
		key->family = AF_INET6;
	} else {
		return -1;
	}
	key->sport = sport;
	key->dport = dport;
	key->proto = meta->l4_proto;
	return 0;
}

#endif /* XDPGW_FLOW_H */
