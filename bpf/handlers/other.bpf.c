// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Everything else: fragments, protocols without a handler (GRE, ESP, SCTP,
 * ICMP inside IPv6, ...). No L4 header to check; the router passes fragments
 * to the kernel and forwards the rest. */
#include "pipeline.h"
#include "stages.h"

SEC("xdp")
int xdpgw_other(struct xdp_md *ctx)
{
	struct xdpgw_pkt_meta meta;
	struct flow_ports fp = {};

	if (load_meta(ctx, &meta))
		return drop(ctx, XDPGW_R_DROP_META_MISSING);
	count_handler(ctx, XDPGW_SLOT_OTHER);
	POLICY_CHECK_OR_RETURN(ctx, &meta, 0, 0, 0);
	return steer_or_forward(ctx, &meta, &fp);
}
