// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Everything else: fragments, protocols without a handler (GRE, ESP, SCTP,
 * ICMP inside IPv6, ...). No L4 header to check; the router passes fragments
 * to the kernel and forwards the rest. */
#include "pipeline.h"

SEC("xdp")
int xdpgw_other(struct xdp_md *ctx)
{
	struct xdpgw_pkt_meta meta;
	int ret;
	struct flow_ports fp = {};

	if ((ret = begin_handler(ctx, &meta, XDPGW_SLOT_OTHER)) != XDPGW_GO_ON)
		return ret;
	return run_pipeline(ctx, &meta, &fp, 0);
}
