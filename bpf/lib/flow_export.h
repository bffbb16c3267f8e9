/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Flow export's datapath half: each packet the router redirects adds to its
 * flow's per-CPU entry in flow_cache (shared.h, struct xdpgw_fe_key). The
 * daemon (gateway/flow_export) merges the CPUs' values, encodes IPFIX /
 * NetFlow v9 records and deletes the flows that ended.
 *
 * Called from route_and_redirect() through the global function
 * xdpgw_flow_account() (stages.bpf.c), and only when the packet's
 * generation has [flow_export] (meta->skip, read with the settings the
 * dispatcher reads anyway): export off costs a routed packet one bit test.
 */
#ifndef XDPGW_FLOW_EXPORT_H
#define XDPGW_FLOW_EXPORT_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xdpgw/shared.h"
#include "flow.h"
#include "maps.h"

/* Ports (TCP/UDP), or ICMP type << 8 | code as the destination port (what
 * NetFlow collectors expect), and the TCP flags byte, read from the packet
 * as it leaves. Returns 0, or -1 when the L4 header is out of bounds. */
static __always_inline int fe_l4(struct xdp_md *ctx, const struct xdpgw_pkt_meta *meta,
				 __u16 *sport, __u16 *dport, __u8 *tcp_flags)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 off = meta->l4_off & XDPGW_MAX_L4_OFFSET;
	__u8 *l4 = data + off;

	*sport = 0;
	*dport = 0;
	*tcp_flags = 0;
	switch (meta->l4_proto) {
	case IPPROTO_TCP: {
		struct tcphdr *tcp = (void *)l4;

		if ((void *)(tcp + 1) > data_end)
			return -1;
		*sport = tcp->source;
		*dport = tcp->dest;
		/* The flags byte: FIN..CWR, offset 13 of the header. */
		*tcp_flags = l4[13];
		return 0;
	}
	case IPPROTO_UDP: {
		struct udphdr *udp = (void *)l4;

		if ((void *)(udp + 1) > data_end)
			return -1;
		*sport = udp->source;
		*dport = udp->dest;
		return 0;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		/* Type and code are the first two bytes of both headers. */
		if ((void *)(l4 + 2) > data_end)
			return -1;
		*dport = bpf_htons(((__u16)l4[0] << 8) | l4[1]);
		return 0;
	default:
		return 0;
	}
}

/* Whether this packet is one the export samples (always, without
 * sampling). Inlined in the router: a packet sampling skips costs one
 * per-CPU array lookup and a decrement, no call; a random number is drawn
 * only for the packet that is sampled, to place the next one. */
static __always_inline int flow_sampled(void)
{
	__u32 zero = 0;
	struct xdpgw_fe_cfg *c = bpf_map_lookup_elem(&flow_cfg, &zero);

	if (!c || c->sample_every <= 1)
		return 1;
	if (c->countdown) {
		c->countdown--;
		return 0;
	}
	/* sample_every <= 2^24 (config), so 2N - 1 does not overflow. */
	c->countdown = bpf_get_prandom_u32() % (2 * c->sample_every - 1);
	return 1;
}

/* Adds the packet to its flow on this CPU. `egress` is the port the router
 * redirects it to, `fwd_reason` what the redirect is counted as. Returns 0
 * (accounted or sampled out) or -1 (not accountable: nothing done). */
static __always_inline int flow_account(struct xdp_md *ctx, const struct xdpgw_pkt_meta *meta,
					__u32 egress, __u32 fwd_reason)
{
	struct xdpgw_fe_key key;
	struct xdpgw_fe_value *v;
	__u16 sport, dport;
	__u8 flags;
	__u64 now;

	/* A DSR packet leaves inside its tunnel: its outer header is not the
	 * client's flow, and meta now describes the outer one. */
	if (fwd_reason == XDPGW_R_FWD_LB_DSR)
		return -1;
	if (fe_l4(ctx, meta, &sport, &dport, &flags))
		return -1;
	if (flow_key_from_packet(ctx, meta, sport, dport, &key.flow))
		return -1;
	key.ingress_ifindex = ctx->ingress_ifindex;
	key.pad = 0;
	/* The coarse clock (CLOCK_MONOTONIC at tick resolution): a few ms is
	 * plenty for flow timestamps and timeouts, and it reads no clock
	 * source, which bpf_ktime_get_ns does on every packet. */
	now = bpf_ktime_get_coarse_ns();
	v = bpf_map_lookup_elem(&flow_cache, &key);
	if (v) {
		/* This CPU's own value: plain stores. */
		v->packets++;
		v->bytes += meta->l3_len;
		if (!v->first_ns)
			v->first_ns = now; /* the flow's first packet on this CPU */
		v->last_ns = now;
		v->egress_ifindex = egress;
		v->tcp_flags |= flags;
		v->fwd_reason = fwd_reason;
		return 0;
	}
	struct xdpgw_fe_value init = {
		.packets = 1,
		.bytes = meta->l3_len,
		.first_ns = now,
		.last_ns = now,
		.egress_ifindex = egress,
		.tcp_flags = flags,
		.fwd_reason = fwd_reason,
	};
	/* Other CPUs' values of a new entry start zeroed; a race with another
	 * CPU inserting the same flow updates its entry in place. */
	bpf_map_update_elem(&flow_cache, &key, &init, BPF_ANY);
	return 0;
}

#endif /* XDPGW_FLOW_EXPORT_H */
