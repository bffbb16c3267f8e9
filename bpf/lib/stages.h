/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The stages after a handler, as global functions defined in stages.bpf.c.
 * The verifier checks a global (non-static) function once, on its own with
 * its arguments unknown, and a call to it costs the caller one instruction
 * and one return value. Inlined, the policy, punt and load-balancer code
 * multiplied each other's branches: the TCP and UDP handlers took 700k of
 * the verifier's 1M-instruction budget and seconds each to load. As
 * functions their costs add. The router (router.h) is the exception: every
 * forwarded packet runs it, so pipeline.h inlines it once per program, where
 * it saves a call and a return per packet.
 *
 * Ports are network order; `meta` is always the caller's stack copy.
 *
 * One convention for every stage: it returns XDPGW_GO_ON when it has nothing
 * to say about the packet (the next stage takes it), XDPGW_FORWARD when the
 * packet is to be routed and redirected as its `fwd` request says, or the
 * XDP verdict, already counted. The stages never call one another;
 * pipeline.h sequences them.
 */
#ifndef XDPGW_STAGES_H
#define XDPGW_STAGES_H

#include <linux/bpf.h>
#include "xdpgw/shared.h"

/* Parses the packet in `ctx` (parse.h) for a stage that has no parse result
 * handed to it. A packet just received (`steered_gen` XDPGW_PARSE_RECEIVED)
 * is checked in full and follows the active generation; one steered under
 * generation `steered_gen` to this CPU follows that generation, and its IPv4
 * checksum, verified on the first CPU, is not summed again. The settings
 * fields are the generation's. Returns 0, XDPGW_R_PASS_NOT_IP, or a drop
 * reason (not yet counted). */
#define XDPGW_PARSE_RECEIVED 0xFFFFFFFFu
int xdpgw_parse(struct xdp_md *ctx, struct xdpgw_pkt_meta *meta, __u32 steered_gen);

#define XDPGW_GO_ON (-1)
#define XDPGW_FORWARD (-2)
/* The load balancer's answer for a packet of a VIP with SYN cookies on, or
 * of a flow they opened: the handler tail-calls the synproxy stage
 * (bpf/synproxy.bpf.c), which has a verifier budget of its own. */
#define XDPGW_SYNPROXY (-3)

/* What a stage that returns XDPGW_FORWARD asks of the router. */
struct xdpgw_fwd_request {
	__u32 reason;	/* what the redirect is counted as */
	__u16 sport;	/* ports for the FIB's multipath hash (network order) */
	__u16 dport;
};

/* For a stage that asks for forwarding: fills the request, returns
 * XDPGW_FORWARD. */
static __always_inline int request_forward(struct xdpgw_fwd_request *fwd, __u16 sport,
					   __u16 dport, __u32 reason)
{
	fwd->reason = reason;
	fwd->sport = sport;
	fwd->dport = dport;
	return XDPGW_FORWARD;
}

/* ACL, then rate limiter (policy.h): XDPGW_GO_ON or a drop. */
int xdpgw_policy_check(struct xdp_md *ctx, const struct xdpgw_pkt_meta *meta,
		       __u32 sport, __u32 dport, __u32 has_ports);

/* Offloaded flow verdicts and punt rules (punt.h): XDPGW_GO_ON when the
 * packet is not the AF_XDP pipeline's, XDPGW_FORWARD for a flow it said to
 * forward, else the verdict (punted, passed, dropped). */
int xdpgw_punt_check(struct xdp_md *ctx, const struct xdpgw_pkt_meta *meta,
		     __u32 sport, __u32 dport, struct xdpgw_fwd_request *fwd);

/* Load balancer (lb.h): XDPGW_GO_ON when the packet is not load-balancer
 * traffic, XDPGW_FORWARD once it is rewritten for its backend, or a drop.
 * Forwarding is left to the caller: the router's stack frame under the load
 * balancer's would pass the verifier's 512-byte limit. */
int xdpgw_lb(struct xdp_md *ctx, struct xdpgw_pkt_meta *meta,
	     __u32 sport, __u32 dport, struct xdpgw_fwd_request *fwd);

/* Source NAT, replies (snat.h): XDPGW_GO_ON when the packet is not
 * addressed to a translation, XDPGW_FORWARD once translated back to the
 * inside host (then XDPGW_SKIP_SNAT is set in `meta`), or a drop. */
int xdpgw_snat_in(struct xdp_md *ctx, struct xdpgw_pkt_meta *meta,
		  __u32 sport, __u32 dport, struct xdpgw_fwd_request *fwd);

/* Source NAT, outbound (snat.h), once the router chose `egress`:
 * XDPGW_GO_ON (no translation), XDPGW_FORWARD (source translated), or a
 * counted verdict. Called only when the generation has [[snat]] rules. */
int xdpgw_snat_out(struct xdp_md *ctx, const struct xdpgw_pkt_meta *meta,
		   __u32 egress, __u32 sport, __u32 dport);

/* Flow export (flow_export.h): adds a packet the router redirects to
 * `egress_ifindex` to its flow in flow_cache; returns 0. Called only when
 * the packet's generation has [flow_export]. */
int xdpgw_flow_account(struct xdp_md *ctx, const struct xdpgw_pkt_meta *meta,
		       __u32 egress_ifindex, __u32 fwd_reason);

/* Copies a dropped frame to a running `xdpgw capture --what drops`
 * (capture.h); returns 0. Called by record() for every XDP_DROP. */
int xdpgw_capture_drop(struct xdp_md *ctx, __u32 reason);

#endif /* XDPGW_STAGES_H */
