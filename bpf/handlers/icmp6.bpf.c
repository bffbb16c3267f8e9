// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* ICMPv6 handler: validates the fixed ICMPv6 header, then routes. Neighbour
 * discovery is link-local or multicast and so reaches the kernel through the
 * router's pass rules. */
#include "pipeline.h"

SEC("xdp")
int xdpgw_icmp6(struct xdp_md *ctx)
{
	struct xdpgw_pkt_meta meta;
	int ret;
	struct flow_ports fp = {};

	if ((ret = begin_handler(ctx, &meta, XDPGW_SLOT_ICMPV6)) != XDPGW_GO_ON)
		return ret;

	if (!l4_header(ctx, &meta, sizeof(struct icmp6hdr)))
		return drop(ctx, XDPGW_R_DROP_ICMPV6_TRUNCATED);
	return run_pipeline(ctx, &meta, &fp, 0);
}
