// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Second stage, run by the CPUMAP on the CPU the flow hash chose. The first
 * stage validated the headers and left its metadata in front of the frame
 * (CPUMAP keeps it), so this stage only routes and redirects.
 */
#include "pipeline.h"

SEC("xdp/cpumap")
int xdpgw_cpu_stage(struct xdp_md *ctx)
{
	struct xdpgw_pkt_meta meta;
	struct flow_ports fp = {};

	if (load_meta(ctx, &meta))
		return drop(ctx, XDPGW_R_DROP_META_MISSING);
	if (meta.slot == XDPGW_SLOT_TCP || meta.slot == XDPGW_SLOT_UDP) {
		/* Ports only matter to the FIB's multipath hash; the first
		 * stage already checked that the header is there. */
		__be16 *ports = l4_header(ctx, &meta, 4);

		if (ports) {
			fp.sport = ports[0];
			fp.dport = ports[1];
		}
	}
	return local_stage(ctx, &meta, &fp);
}
