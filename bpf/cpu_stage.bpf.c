// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Second stage, run by the CPUMAP on the CPU the flow hash chose. This CPU's
 * `parsed` entry belongs to other packets, so the stage parses the frame
 * again (the first stage validated it, checksum included; this only finds
 * the offsets). One
 * program per config generation, each in its generation's CPUMAP
 * (maps.h): the generation a packet was steered under is the one that
 * finishes it, whatever the daemon has flipped since.
 */
#include "pipeline.h"

_Static_assert(XDPGW_CONFIG_GENERATIONS == 2,
	       "one second-stage program and CPUMAP per generation");

static __always_inline int cpu_stage(struct xdp_md *ctx, __u32 gen)
{
	struct xdpgw_pkt_meta meta;
	struct flow_ports fp = {};
	struct xdpgw_fwd_request fwd;
	int reason;

	count_steer(gen, 1);
	reason = xdpgw_parse(ctx, &meta, gen);
	if (reason == XDPGW_R_PASS_NOT_IP)
		return pass(ctx, reason);
	if (reason)
		return drop(ctx, reason);
	if (meta.slot == XDPGW_SLOT_TCP || meta.slot == XDPGW_SLOT_UDP) {
		/* Ports only matter to the load balancer and the FIB's
		 * multipath hash; the first stage checked the header. */
		__be16 *ports = l4_header(ctx, &meta, 4);

		if (ports) {
			fp.sport = ports[0];
			fp.dport = ports[1];
		}
	}
	fwd = routed_as_is(&fp);
	return local_pipeline(ctx, &meta, &fwd, 1);
}

SEC("xdp/cpumap")
int xdpgw_cpu_g0(struct xdp_md *ctx)
{
	return cpu_stage(ctx, 0);
}

SEC("xdp/cpumap")
int xdpgw_cpu_g1(struct xdp_md *ctx)
{
	return cpu_stage(ctx, 1);
}
