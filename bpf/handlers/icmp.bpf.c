// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* ICMP (IPv4) handler: validates the fixed ICMP header, then routes. */
#include "pipeline.h"

SEC("xdp")
int xdpgw_icmp(struct xdp_md *ctx)
{
	struct xdpgw_pkt_meta meta;
	int ret;
	struct flow_ports fp = {};

	if ((ret = begin_handler(ctx, &meta, XDPGW_SLOT_ICMP)) != XDPGW_GO_ON)
		return ret;

	if (!l4_header(ctx, &meta, sizeof(struct icmp_fixed_hdr)))
		return drop(ctx, XDPGW_R_DROP_ICMP_TRUNCATED);
	return run_pipeline(ctx, &meta, &fp, 0);
}
