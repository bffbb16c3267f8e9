// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* UDP handler: validates the UDP header and length, then hands the packet
 * to the pipeline (pipeline.h). */
#include "pipeline.h"

SEC("xdp")
int xdpgw_udp(struct xdp_md *ctx)
{
	struct xdpgw_pkt_meta meta;
	struct flow_ports fp;
	struct udphdr *udp;
	__u32 len;
	int ret;

	if ((ret = begin_handler(ctx, &meta, XDPGW_SLOT_UDP)) != XDPGW_GO_ON)
		return ret;

	udp = l4_header(ctx, &meta, sizeof(*udp));
	if (!udp)
		return drop(ctx, XDPGW_R_DROP_UDP_TRUNCATED);
	/* The UDP length must cover its header and fit in the IP payload;
	 * a receiver would discard anything else. */
	len = bpf_ntohs(udp->len);
	if (len < sizeof(*udp) || meta.l4_off + len > l3_end(&meta))
		return drop(ctx, XDPGW_R_DROP_UDP_BAD_LEN);

	fp.sport = udp->source;
	fp.dport = udp->dest;
	return run_pipeline(ctx, &meta, &fp, 1);
}
