// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* TCP handler: validates the TCP header, then hands the packet to the
 * pipeline (pipeline.h). */
#include "pipeline.h"

SEC("xdp")
int xdpgw_tcp(struct xdp_md *ctx)
{
	struct xdpgw_pkt_meta meta;
	struct flow_ports fp;
	struct tcphdr *tcp;
	__u32 doff;
	int ret;

	if ((ret = begin_handler(ctx, &meta, XDPGW_SLOT_TCP)) != XDPGW_GO_ON)
		return ret;

	tcp = l4_header(ctx, &meta, sizeof(*tcp));
	if (!tcp)
		return drop(ctx, XDPGW_R_DROP_TCP_TRUNCATED);
	doff = tcp->doff * 4;
	if (doff < sizeof(*tcp) || meta.l4_off + doff > l3_end(&meta))
		return drop(ctx, XDPGW_R_DROP_TCP_BAD_DOFF);

	fp.sport = tcp->source;
	fp.dport = tcp->dest;
	return run_pipeline(ctx, &meta, &fp, 1);
}
