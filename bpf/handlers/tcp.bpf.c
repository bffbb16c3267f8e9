// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* TCP handler: validates the TCP header, then routes. */
#include "pipeline.h"
#include "stages.h"

SEC("xdp")
int xdpgw_tcp(struct xdp_md *ctx)
{
	struct xdpgw_pkt_meta meta;
	struct flow_ports fp;
	struct tcphdr *tcp;
	__u32 doff;
	int ret;

	if ((ret = begin_handler(ctx, &meta, XDPGW_SLOT_TCP)) >= 0)
		return ret;

	tcp = l4_header(ctx, &meta, sizeof(*tcp));
	if (!tcp)
		return drop(ctx, XDPGW_R_DROP_TCP_TRUNCATED);
	doff = tcp->doff * 4;
	if (doff < sizeof(*tcp) || meta.l4_off + doff > l3_end(&meta))
		return drop(ctx, XDPGW_R_DROP_TCP_BAD_DOFF);

	POLICY_CHECK_OR_RETURN(ctx, &meta, tcp->source, tcp->dest, 1);
	fp.sport = tcp->source;
	fp.dport = tcp->dest;
	if (!(meta.skip & XDPGW_SKIP_PUNT) &&
	    (ret = xdpgw_punt_check(ctx, &meta, fp.sport, fp.dport)) != PUNT_CONTINUE)
		return ret;
	return steer_or_forward(ctx, &meta, &fp);
}
