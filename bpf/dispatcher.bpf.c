// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * XDP entry point. Parses L2/L3 once, hands what it learned to the handler
 * through this CPU's `parsed` entry (shared.h explains why not XDP
 * metadata), and tail-calls the handler for the L4 protocol.
 */
#include "parse.h"
#include "verdict.h"

SEC("xdp")
int xdpgw_dispatch(struct xdp_md *ctx)
{
	const struct xdpgw_settings *cfg;
	struct xdpgw_pkt_meta meta;
	int reason;

	reason = parse_packet(ctx, &meta, 1);
	if (reason == XDPGW_R_PASS_NOT_IP)
		return pass(ctx, reason);
	if (reason)
		return drop(ctx, reason);
	meta.gen = current_gen();
	settings_into(&meta);

	hand_over(ctx, &meta);
	/* One call site per slot, each with its slot as a constant: the JIT
	 * then jumps straight into the handler (a direct jump it patches when
	 * the slot changes) instead of through an indirect jump, which a
	 * retpoline makes cost ~10 ns a packet on these CPUs. */
	switch (meta.slot) {
#define XDPGW_TAIL_CALL_CASE_(name, value, str)				\
	case XDPGW_SLOT_##name:						\
		tail_call_static(ctx, &handlers, XDPGW_SLOT_##name);	\
		break;
	XDPGW_SLOTS(XDPGW_TAIL_CALL_CASE_)
#undef XDPGW_TAIL_CALL_CASE_
	}

	/* Only reached when the slot is empty: a load or upgrade bug we want
	 * counted, with the action the operator chose. Nobody took the
	 * hand-over; withdraw it so it never describes another packet. */
	withdraw_hand_over();
	cfg = get_settings(meta.gen);
	if (cfg && cfg->missed_tail_call_action == XDP_PASS)
		return pass(ctx, XDPGW_R_MISSED_TAIL_CALL);
	return drop(ctx, XDPGW_R_MISSED_TAIL_CALL);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
