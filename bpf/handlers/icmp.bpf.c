// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* ICMP (IPv4) handler: validates the fixed ICMP header, then routes. */
#include "pipeline.h"
#include "stages.h"

SEC("xdp")
int xdpgw_icmp(struct xdp_md *ctx)
{
	struct xdpgw_pkt_meta meta;
	struct flow_ports fp = {};

	if (load_meta(ctx, &meta))
		return drop(ctx, XDPGW_R_DROP_META_MISSING);
	count_handler(ctx, XDPGW_SLOT_ICMP);

	if (!l4_header(ctx, &meta, sizeof(struct icmp_fixed_hdr)))
		return drop(ctx, XDPGW_R_DROP_ICMP_TRUNCATED);
	POLICY_CHECK_OR_RETURN(ctx, &meta, 0, 0, 0);
	return steer_or_forward(ctx, &meta, &fp);
}
