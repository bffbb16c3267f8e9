/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one definition of every type and id shared by the XDP programs and the
 * C++ daemon: map keys and values, verdict reasons, handler slots, metadata.
 *
 * Rules that keep the two sides from drifting:
 *  - fixed-width fields only, explicit padding, no bitfields, no pointers;
 *  - enums are append-only: a retired value keeps its number forever
 *    (counters are exported by name and by number);
 *  - the C++ side static_asserts sizes and offsets (gateway/datapath/abi.hpp).
 */
#ifndef XDPGW_SHARED_H
#define XDPGW_SHARED_H

#include <linux/types.h>

/* ---- parse bounds ------------------------------------------------------ */

/* 802.1Q / 802.1ad tags the dispatcher walks; a third tag is a drop. */
#define XDPGW_VLAN_MAX_DEPTH 2
/* IPv6 extension headers walked before the chain is declared too long. */
#define XDPGW_IPV6_EXT_MAX_CHAIN 6
/* Largest L3 header offset the dispatcher produces (14 + 2*4 + 60 bytes of
 * IPv4, or 14 + 8 + 40 + 6 * 2048-byte ext headers is cut by the chain bound
 * and this limit). Handlers mask offsets with it to keep the verifier happy. */
#define XDPGW_MAX_L4_OFFSET 1023

/* ---- map sizes (BPF definitions and the daemon's inner maps share them) -- */

#define XDPGW_MAX_PORTS 256
#define XDPGW_MAX_ROUTES 65536	   /* per address family */
#define XDPGW_MAX_NEXTHOPS 4096
#define XDPGW_MAX_LOCAL_ADDRS 1024
#define XDPGW_MAX_CPUS 1024

/*
 * Config generations. Every table a reload changes exists twice, as the
 * inner maps of an ARRAY_OF_MAPS indexed by generation; the daemon builds
 * the inactive generation and flips active_gen with one map update. The
 * dispatcher reads the generation once per packet and hands it to the
 * handler with the parse result (struct xdpgw_parsed); a packet steered to
 * another CPU goes through the CPUMAP of its generation, whose second-stage
 * program is built for that generation. So every packet sees exactly one
 * config.
 */
#define XDPGW_CONFIG_GENERATIONS 2

/* ---- handler slots in the PROG_ARRAY ------------------------------------ */

/* The one list of handler slots: X(NAME, value, "name") makes the enum
 * (XDPGW_SLOT_NAME = value) here and the names the C++ side prints
 * (gateway/datapath/abi.hpp). */
#define XDPGW_SLOTS(X)							\
	X(TCP, 0, "tcp")						\
	X(UDP, 1, "udp")						\
	X(ICMP, 2, "icmp")						\
	X(ICMPV6, 3, "icmpv6")						\
	/* Everything without an L4 header the fast path understands:	\
	 * other protocols, IPv4/IPv6 fragments, IPv6 "no next header". */ \
	X(OTHER, 4, "other")

#define XDPGW_SLOT_ENUM_(name, value, str) XDPGW_SLOT_##name = (value),
enum xdpgw_slot {
	XDPGW_SLOTS(XDPGW_SLOT_ENUM_)
	XDPGW_SLOT_COUNT
};
#undef XDPGW_SLOT_ENUM_
/* Stage programs in the same PROG_ARRAY, after the handlers: tail-called by
 * a handler for work that would not fit its verifier budget. */
#define XDPGW_STAGE_SLOT_SYNPROXY 5 /* bpf/synproxy.bpf.c */
#define XDPGW_PROG_ARRAY_SIZE 8 /* room for stages added later */

/* ---- verdict reasons ---------------------------------------------------- */

/*
 * Why a packet left the fast path the way it did. Every exit of every program
 * records exactly one of these (packets and bytes, per CPU). Append only.
 *
 * The one list of reasons: X(NAME, value, "name", OUTCOME, parse_error)
 * makes the enum (XDPGW_R_NAME = value) here, and the C++ side
 * (gateway/datapath/abi.hpp) its names and outcomes from the same rows.
 *  - "name" is exported in stats and metrics: never changed, never reused;
 *  - OUTCOME (enum xdpgw_outcome without its prefix) is where the packet
 *    went, for the daemon's totals;
 *  - parse_error 1: a malformed or truncated frame, which record() also
 *    reports as an event (bpf/lib/verdict.h).
 */
#define XDPGW_REASONS(X)						\
	X(UNSPEC, 0, "unspec", OTHER, 0)				\
	/* forwarded by XDP */						\
	/* rewritten and redirected to a port */			\
	X(FWD_REDIRECT, 1, "fwd_redirect", FORWARD, 0)			\
	/* handed to another CPU through CPUMAP, which counts it again	\
	 * with its final reason */					\
	X(STEER_CPU, 2, "steer_cpu", INTERMEDIATE, 0)			\
	/* passed to the kernel stack on purpose */			\
	X(PASS_NOT_IP, 3, "pass_not_ip", PASS, 0) /* ARP, LLDP, ... */	\
	X(PASS_IPV4_FRAGMENT, 4, "pass_ipv4_fragment", PASS, 0)	\
	X(PASS_IPV6_FRAGMENT, 5, "pass_ipv6_fragment", PASS, 0)	\
	X(PASS_IPV4_OPTIONS, 6, "pass_ipv4_options", PASS, 0)		\
	X(PASS_IPV6_HOP_BY_HOP, 7, "pass_ipv6_hop_by_hop", PASS, 0)	\
	/* kernel sends time-exceeded */				\
	X(PASS_TTL_EXCEEDED, 8, "pass_ttl_exceeded", PASS, 0)		\
	/* for the gateway itself */					\
	X(PASS_LOCAL_DEST, 9, "pass_local_dest", PASS, 0)		\
	/* multicast / broadcast destination */				\
	X(PASS_MULTICAST, 10, "pass_multicast", PASS, 0)		\
	/* IPv6 link-local source or dest */				\
	X(PASS_LINK_LOCAL, 11, "pass_link_local", PASS, 0)		\
	/* kernel sends unreachable */					\
	X(PASS_NO_ROUTE, 12, "pass_no_route", PASS, 0)			\
	/* kernel resolves ARP/ND */					\
	X(PASS_NO_NEIGH, 13, "pass_no_neigh", PASS, 0)			\
	/* exceeds egress MTU */					\
	X(PASS_FRAG_NEEDED, 14, "pass_frag_needed", PASS, 0)		\
	/* forwarding sysctl off */					\
	X(PASS_FWD_DISABLED, 15, "pass_fwd_disabled", PASS, 0)		\
	/* route leaves via a non-xdpgw port */				\
	X(PASS_EGRESS_NOT_PORT, 16, "pass_egress_not_port", PASS, 0)	\
	/* kernel VLAN devices own tagged L3 */				\
	X(PASS_VLAN_TAGGED, 17, "pass_vlan_tagged", PASS, 0)		\
	/* no route source configured */				\
	X(PASS_ROUTING_OFF, 18, "pass_routing_off", PASS, 0)		\
	/* fib result XDP cannot act on */				\
	X(PASS_FIB_OTHER, 19, "pass_fib_other", PASS, 0)		\
	/* Retired: no program needs XDP metadata any more. */		\
	X(PASS_META_UNSUPPORTED, 20, "pass_meta_unsupported", PASS, 0)	\
	/* tail call to a handler slot failed: action from settings */	\
	X(MISSED_TAIL_CALL, 21, "missed_tail_call", OTHER, 0)		\
	/* dropped: malformed or truncated */				\
	X(DROP_ETH_TRUNCATED, 22, "drop_eth_truncated", DROP, 1)	\
	X(DROP_VLAN_TRUNCATED, 23, "drop_vlan_truncated", DROP, 1)	\
	X(DROP_VLAN_TOO_DEEP, 24, "drop_vlan_too_deep", DROP, 1)	\
	X(DROP_IPV4_TRUNCATED, 25, "drop_ipv4_truncated", DROP, 1)	\
	X(DROP_IPV4_BAD_VERSION, 26, "drop_ipv4_bad_version", DROP, 1)	\
	X(DROP_IPV4_BAD_IHL, 27, "drop_ipv4_bad_ihl", DROP, 1)		\
	X(DROP_IPV4_BAD_TOTLEN, 28, "drop_ipv4_bad_totlen", DROP, 1)	\
	X(DROP_IPV6_TRUNCATED, 29, "drop_ipv6_truncated", DROP, 1)	\
	X(DROP_IPV6_BAD_VERSION, 30, "drop_ipv6_bad_version", DROP, 1)	\
	X(DROP_IPV6_BAD_PAYLOAD_LEN, 31, "drop_ipv6_bad_payload_len", DROP, 1) \
	X(DROP_IPV6_EXT_TRUNCATED, 32, "drop_ipv6_ext_truncated", DROP, 1) \
	X(DROP_IPV6_EXT_TOO_DEEP, 33, "drop_ipv6_ext_too_deep", DROP, 1) \
	X(DROP_TCP_TRUNCATED, 34, "drop_tcp_truncated", DROP, 1)	\
	X(DROP_TCP_BAD_DOFF, 35, "drop_tcp_bad_doff", DROP, 1)		\
	X(DROP_UDP_TRUNCATED, 36, "drop_udp_truncated", DROP, 1)	\
	X(DROP_UDP_BAD_LEN, 37, "drop_udp_bad_len", DROP, 1)		\
	X(DROP_ICMP_TRUNCATED, 38, "drop_icmp_truncated", DROP, 1)	\
	X(DROP_ICMPV6_TRUNCATED, 39, "drop_icmpv6_truncated", DROP, 1)	\
	/* a stage function got no parse result */			\
	X(DROP_META_MISSING, 40, "drop_meta_missing", DROP, 0)		\
	/* retired: the router now checks the egress before rewriting \
	 * (pass_egress_not_port); kept so the value is never reused */	\
	X(DROP_REDIRECT_FAILED, 41, "drop_redirect_failed", DROP, 0)	\
	/* load balancer (bpf/lib/lb.h) */				\
	/* to a backend, destination rewritten */			\
	X(FWD_LB_NAT, 42, "fwd_lb_nat", FORWARD, 0)			\
	/* to a backend, IPIP/IP6IP6 encapsulated */			\
	X(FWD_LB_DSR, 43, "fwd_lb_dsr", FORWARD, 0)			\
	/* backend reply, source set back to the VIP */			\
	X(FWD_LB_REVERSE_NAT, 44, "fwd_lb_reverse_nat", FORWARD, 0)	\
	/* VIP without a usable backend */				\
	X(DROP_LB_NO_BACKEND, 45, "drop_lb_no_backend", DROP, 0)	\
	/* encapsulated frame exceeds egress MTU */			\
	X(DROP_LB_ENCAP_TOO_BIG, 46, "drop_lb_encap_too_big", DROP, 0)	\
	/* no headroom for the outer header */				\
	X(DROP_LB_ENCAP_FAILED, 47, "drop_lb_encap_failed", DROP, 0)	\
	/* policy (bpf/lib/policy.h) */					\
	X(DROP_ACL_DENY, 48, "drop_acl_deny", DROP, 0)			\
	X(DROP_RATE_LIMITED, 49, "drop_rate_limited", DROP, 0)		\
	/* punt to the AF_XDP pipeline and its offloaded verdicts */	\
	/* redirected into an AF_XDP socket */				\
	X(PUNT_XSK, 50, "punt_xsk", PUNT, 0)				\
	/* no socket on this queue: pass */				\
	X(PASS_PUNT_FALLBACK, 51, "pass_punt_fallback", PASS, 0)	\
	/* no socket on this queue: drop */				\
	X(DROP_PUNT_FALLBACK, 52, "drop_punt_fallback", DROP, 0)	\
	/* userspace said forward; XDP did */				\
	X(FWD_FLOW_VERDICT, 53, "fwd_flow_verdict", FORWARD, 0)	\
	/* userspace said pass to the kernel */				\
	X(PASS_FLOW_VERDICT, 54, "pass_flow_verdict", PASS, 0)		\
	/* userspace said drop */					\
	X(DROP_FLOW_VERDICT, 55, "drop_flow_verdict", DROP, 0)		\
	/* dropped: RFC 1812 input check, in the dispatcher */		\
	X(DROP_IPV4_BAD_CHECKSUM, 56, "drop_ipv4_bad_checksum", DROP, 1) \
	/* NAT UDP flow over its source prefix's new-flow cap */	\
	X(DROP_LB_NEW_FLOW_CAP, 57, "drop_lb_new_flow_cap", DROP, 0) \
	/* SYN over its VIP's syn_rate_limit */				\
	X(DROP_LB_SYN_RATE, 58, "drop_lb_syn_rate", DROP, 0)		\
	/* SYN cookies (bpf/synproxy.bpf.c) */				\
	/* a SYN answered with a cookie SYN-ACK (XDP_TX) */		\
	X(TX_SYNPROXY_SYNACK, 59, "tx_synproxy_synack", FORWARD, 0)	\
	/* a backend's repeated SYN-ACK answered with its ACK (XDP_TX) */ \
	X(TX_SYNPROXY_ACK, 60, "tx_synproxy_ack", FORWARD, 0)		\
	/* an ACK whose cookie did not check out: no such handshake */	\
	X(DROP_SYNPROXY_BAD_COOKIE, 61, "drop_synproxy_bad_cookie", DROP, 0) \
	/* client packet before the backend answered its SYN */	\
	X(DROP_SYNPROXY_WAITING, 62, "drop_synproxy_waiting", DROP, 0)	\
	/* TCP to a cookie VIP that no handshake and no flow explain */	\
	X(DROP_SYNPROXY_NO_FLOW, 63, "drop_synproxy_no_flow", DROP, 0)	\
	/* a handshake packet the gateway could not rebuild */		\
	X(DROP_SYNPROXY_REBUILD, 64, "drop_synproxy_rebuild", DROP, 0)	\
	/* source NAT (bpf/lib/snat.h) */				\
	/* outbound, source translated, redirected */			\
	X(FWD_SNAT, 65, "fwd_snat", FORWARD, 0)			\
	/* reply (or ICMP error about a flow) translated back */	\
	X(FWD_SNAT_REVERSE, 66, "fwd_snat_reverse", FORWARD, 0)	\
	/* new flow, no free (address, port) after the probes */	\
	X(DROP_SNAT_PORTS_EXHAUSTED, 67, "drop_snat_ports_exhausted", DROP, 0) \
	X(PASS_SNAT_PORTS_EXHAUSTED, 68, "pass_snat_ports_exhausted", PASS, 0) \
	/* new flow, snat_flows or snat_ports full */			\
	X(DROP_SNAT_TABLE_FULL, 69, "drop_snat_table_full", DROP, 0)	\
	X(PASS_SNAT_TABLE_FULL, 70, "pass_snat_table_full", PASS, 0)	\
	/* to a translated (address, port) in use, not from its flow's	\
	 * remote end: unsolicited, or hairpin (refused) */		\
	X(DROP_SNAT_UNSOLICITED, 71, "drop_snat_unsolicited", DROP, 0)	\
	/* arrived on an inbound = "established-only" port, not a reply	\
	 * to (or an ICMP error about) a translated flow */		\
	X(DROP_INBOUND_NOT_ESTABLISHED, 72, "drop_inbound_not_established", DROP, 0)

/* Where a reason's packets went (the OUTCOME column). STEER_CPU is a step:
 * the packet is counted again on the CPU it was steered to. */
enum xdpgw_outcome {
	XDPGW_OUTCOME_OTHER = 0,	/* unspec, missed tail call */
	XDPGW_OUTCOME_FORWARD = 1,
	XDPGW_OUTCOME_PASS = 2,
	XDPGW_OUTCOME_DROP = 3,
	XDPGW_OUTCOME_PUNT = 4,
	XDPGW_OUTCOME_INTERMEDIATE = 5,
};

#define XDPGW_R_ENUM_(name, value, str, outcome, parse_error) XDPGW_R_##name = (value),
enum xdpgw_reason {
	XDPGW_REASONS(XDPGW_R_ENUM_)
	XDPGW_R_COUNT
};
#undef XDPGW_R_ENUM_

/* Value of the per-CPU stats arrays (verdict reasons, handler hits). */
struct xdpgw_counter {
	__u64 packets;
	__u64 bytes;
};

/* ---- per-packet parse result -------------------------------------------- */

#define XDPGW_META_F_FRAGMENT (1u << 0)	   /* any IPv4/IPv6 fragment */
#define XDPGW_META_F_IPV4_OPTIONS (1u << 1) /* ihl > 5 */
#define XDPGW_META_F_HOP_BY_HOP (1u << 2)   /* IPv6 HBH ext header present */
#define XDPGW_META_F_LATER_FRAGMENT (1u << 3) /* offset != 0: no L4 header */

/* What the dispatcher learned about a packet's L2/L3 headers. */
struct xdpgw_pkt_meta {
	__u16 l3_off;	    /* from packet start to the IP header */
	__u16 l4_off;	    /* from packet start to the L4 header */
	__u16 l3_proto;	    /* ETH_P_IP or ETH_P_IPV6, host order */
	__u16 l3_len;	    /* IP total length (header + payload), host order */
	__u8 l4_proto;	    /* IPPROTO_* after the IPv6 extension chain */
	__u8 flags;	    /* XDPGW_META_F_* */
	__u8 vlan_depth;    /* 0..XDPGW_VLAN_MAX_DEPTH */
	__u8 slot;	    /* enum xdpgw_slot chosen by the dispatcher */
	__u16 vlan_tci[XDPGW_VLAN_MAX_DEPTH]; /* outer first, host order */
	__u32 gen;	    /* config generation this packet follows */
	/* From that generation's settings, read once per packet: */
	__u8 route_source;  /* enum xdpgw_route_source */
	__u8 skip;	    /* XDPGW_SKIP_*: stages with nothing configured */
	__u16 cpu_count;    /* steering CPUs; 0 = off */
};

/*
 * The hand-over from the dispatcher to the handler it tail-calls: one
 * PERCPU_ARRAY entry (map `parsed`). XDP metadata (bpf_xdp_adjust_meta) would
 * travel with the frame, but kernels and drivers that refuse it exist (the
 * project's own machines, ENA), so the parse result stays on the CPU: a tail
 * call runs to completion on the CPU that made it, with nothing else of XDP
 * in between. The handler checks that the entry describes its packet
 * (layout, length, ingress) and marks it consumed (layout = 0); an entry that
 * does not match is never trusted: the handler parses the packet again.
 * The map is pinned with the others, so during an upgrade an old dispatcher
 * and new handlers share it; a new layout gets a new XDPGW_PARSED_LAYOUT
 * (and, if its size changes, is refused as incompatible at adoption).
 * The CPUMAP second stage never reads it: the entry on the target CPU
 * belongs to other packets, so that stage parses the frame itself.
 */
#define XDPGW_PARSED_LAYOUT 0x58470002u /* "XG", version 2 */

struct xdpgw_parsed {
	__u32 layout;	  /* XDPGW_PARSED_LAYOUT while unread; 0 once consumed */
	__u32 frame_len;  /* data_end - data of the packet it describes */
	__u32 ifindex;	  /* its ingress ifindex */
	__u32 rx_queue;	  /* its rx queue */
	struct xdpgw_pkt_meta meta;
};

/* ---- optional kernel features ------------------------------------------ */

/*
 * Bits of the read-only knob xdpgw_features (bpf/lib/features.h), set by the
 * daemon before load from what its probe found (gateway/datapath/probe.cpp).
 * The verifier skips the code behind a cleared bit, helper calls included,
 * so a kernel without an optional helper still loads the datapath, with that
 * one feature off.
 */
#define XDPGW_FEAT_EVENTS (1u << 0)   /* bpf_ringbuf_*: the event stream */
#define XDPGW_FEAT_CAPTURE (1u << 1)  /* bpf_perf_event_output: drop capture */
#define XDPGW_FEAT_FIB (1u << 2)      /* bpf_fib_lookup: routing.source = "fib" */
#define XDPGW_FEAT_ACL (1u << 3)      /* bpf_loop: [[acl]] rules */
#define XDPGW_FEAT_STEERING (1u << 4) /* CPUMAP second stage: [steering] */
#define XDPGW_FEAT_SYNCOOKIE (1u << 5) /* bpf_tcp_raw_*_syncookie_*: [synproxy] */
#define XDPGW_FEAT_ALL                                                      \
	(XDPGW_FEAT_EVENTS | XDPGW_FEAT_CAPTURE | XDPGW_FEAT_FIB |          \
	 XDPGW_FEAT_ACL | XDPGW_FEAT_STEERING | XDPGW_FEAT_SYNCOOKIE)

/* ---- settings (one entry per generation; written by the daemon) --------- */

enum xdpgw_route_source {
	XDPGW_ROUTE_NONE = 0,	/* everything IP goes to the kernel */
	XDPGW_ROUTE_FIB = 1,	/* bpf_fib_lookup on the kernel's tables */
	XDPGW_ROUTE_STATIC = 2, /* LPM tries filled from the config */
	XDPGW_ROUTE_KERNEL = 3, /* kr_* tries mirrored from the kernel's routes */
};

/*
 * Stages a generation has nothing configured for: a packet following it does
 * not enter them (no lookups, no calls). Bits say "skip", not "use", so that
 * settings without them (zero) run every stage: never a check left out.
 */
#define XDPGW_SKIP_POLICY (1u << 0) /* no [[acl]] rule and no [ratelimit] */
#define XDPGW_SKIP_PUNT (1u << 1)   /* no [[punt.rule]] */
#define XDPGW_SKIP_LB (1u << 2)	    /* no [[vip]] */
#define XDPGW_SKIP_FLOW_EXPORT (1u << 3) /* no [flow_export]: no flow_cache update */
#define XDPGW_SKIP_SNAT (1u << 4) /* no [[snat]] rule, no established-only port */
#define XDPGW_SKIP_INBOUND (1u << 5) /* no inbound = "established-only" port */

/* XDP verdict values (enum xdp_action) a setting may hold. */
struct xdpgw_settings {
	__u32 missed_tail_call_action; /* XDP_DROP or XDP_PASS */
	__u32 route_source;	       /* enum xdpgw_route_source */
	__u32 cpu_count;	       /* entries used in cpu_targets; 0 = off */
	__u32 skip;		       /* XDPGW_SKIP_* */
};

/* ---- static routes ------------------------------------------------------ */

struct xdpgw_lpm_v4_key {
	__u32 prefixlen;
	__u32 addr; /* network order */
};

struct xdpgw_lpm_v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* LPM value: a nexthop id of the route's generation, or XDPGW_NH_LOCAL. */
struct xdpgw_route {
	__u32 nexthop_id;
};

/* A host route to one of the gateway's own addresses: the packet goes to the
 * kernel (pass_local_dest). Static routing puts these in its tries, so one
 * lookup answers both "local?" and "where to?". */
#define XDPGW_NH_LOCAL 0xFFFFFFFFu

#define XDPGW_NH_F_RESOLVED (1u << 0) /* dmac is valid */

/* Nexthop: everything the rewrite needs, so a routed packet makes one lookup
 * after the route's. dmac is resolved from the kernel's neighbour table by
 * the daemon (in place); smac and mtu are the egress port's at apply. */
struct xdpgw_nexthop {
	__u32 ifindex;
	__u32 flags; /* XDPGW_NH_F_* */
	__u8 dmac[6];
	__u8 smac[6];
	__u32 mtu;   /* L3 MTU of the egress port */
};

/* ---- kernel routes (routing.source = "kernel") ---------------------------- */

/*
 * The daemon's route mirror (gateway/routing/route_mirror.cpp) keeps these
 * equal to the kernel's main and local routing tables and its neighbour
 * table, updating single entries in place as netlink events arrive. They are
 * not generational: an LPM_TRIE or ARRAY element update is what a packet
 * sees next, and a route change must not wait for a config flip.
 */
#define XDPGW_MAX_KROUTES 1048576 /* per address family (a full BGP table fits) */
#define XDPGW_MAX_KNEXTHOPS 65536

/* Ask bpf_fib_lookup for this prefix: multipath and nexthop-object routes
 * (the kernel's hash picks the path), or every prefix while `ip rule` has
 * rules the mirror cannot express (then the mirror holds only /0 with it). */
#define XDPGW_KROUTE_F_FIB (1u << 0)

/* kr_routes4 / kr_routes6 value. */
struct xdpgw_kroute {
	__u32 nexthop_id;  /* index into kr_nexthops (pass_reason 0, no flag) */
	__u16 pass_reason; /* enum xdpgw_reason: the kernel handles this prefix
			    * (local, broadcast, blackhole, unreachable, prohibit,
			    * on-link without a neighbour entry); 0 = forward */
	__u16 flags;	   /* XDPGW_KROUTE_F_* */
};

/* kr_nexthops value: a gateway (or, for on-link destinations, the host
 * itself) and what the neighbour table says about it, with what the rewrite
 * needs of the egress port (as struct xdpgw_nexthop carries it). The
 * address is kept so that a restarted daemon can adopt the table without
 * renumbering. */
struct xdpgw_knexthop {
	__u32 ifindex;
	__u32 flags;	/* XDPGW_NH_F_RESOLVED: dmac is valid */
	__u8 dmac[6];
	__u8 family;	/* AF_INET or AF_INET6; 0 = slot unused */
	__u8 pad;
	__u8 addr[16];	/* network order; IPv4 in the first 4 bytes */
	__u8 smac[6];	/* the egress port's MAC */
	__u16 pad2;
	__u32 mtu;	/* L3 MTU of the egress port; 0 = not a port */
};

/* Local addresses of the gateway: packets to them go to the kernel. Looked
 * up only for packets the FIB does not forward, to name the reason. Key is
 * the address, value unused. */
struct xdpgw_addr_key {
	__u32 family; /* AF_INET or AF_INET6 */
	__u8 addr[16]; /* IPv4 in the first 4 bytes, network order */
};

/* ---- connection table (shared by every handler and by userspace) -------- */

/*
 * One LRU_HASH of flows, 5-tuple -> state. Written by XDP for load-balanced
 * flows (both directions of a NAT flow) and by the AF_XDP pipeline for the
 * verdicts it offloads; read by both. Not generational: flows outlive
 * reloads, which is what keeps an established flow on its backend.
 */
#define XDPGW_CONN_TABLE_DEFAULT_SIZE 262144
#define XDPGW_CONN_TABLE_MAX_SIZE (16u * 1024 * 1024)

/* Addresses are 16 bytes for both families; IPv4 in the first 4 bytes (network
 * order), the rest zero. Ports network order; 0 for protocols without. */
struct xdpgw_flow_key {
	__u8 src[16];
	__u8 dst[16];
	__u16 sport;
	__u16 dport;
	__u8 proto;  /* IPPROTO_* */
	__u8 family; /* AF_INET or AF_INET6 */
	__u16 pad;   /* zero */
};

enum xdpgw_flow_action {
	XDPGW_FLOW_NONE = 0,
	XDPGW_FLOW_LB_NAT = 1,	       /* client -> VIP: rewrite dst to target */
	XDPGW_FLOW_LB_DSR = 2,	       /* client -> VIP: encapsulate to target */
	XDPGW_FLOW_LB_REVERSE_NAT = 3, /* backend -> client: rewrite src to target */
	XDPGW_FLOW_FORWARD = 4,	       /* offloaded verdict: route it in XDP */
	XDPGW_FLOW_PASS = 5,	       /* offloaded verdict: to the kernel */
	XDPGW_FLOW_DROP = 6,	       /* offloaded verdict: drop */
	XDPGW_FLOW_PUNT = 7,	       /* undecided: keep sending it to userspace */
};

#define XDPGW_FLOW_F_OFFLOADED (1u << 0) /* verdict written by the pipeline */
/* Opened by SYN cookies: sequence numbers, timestamps and windows are
 * translated (synproxy_flows holds how), by bpf/synproxy.bpf.c. */
#define XDPGW_FLOW_F_SYNPROXY (1u << 1)

struct xdpgw_flow {
	__u8 action;	   /* enum xdpgw_flow_action */
	__u8 target_family; /* AF_INET / AF_INET6 of target */
	__u16 flags;	   /* XDPGW_FLOW_F_* */
	__u32 vip_id;	   /* LB flows: index into vip_stats */
	__u32 backend_id;  /* LB flows: index into backend_stats */
	__u16 target_port; /* NAT: backend port (fwd) / VIP port (reverse) */
	__u16 reserved;
	__u8 target[16];   /* NAT/DSR: backend; reverse NAT: VIP */
	__u64 created_ns;  /* bpf_ktime_get_coarse_ns() (CLOCK_MONOTONIC, tick resolution) */
	__u64 last_seen_ns;
	__u64 packets;	   /* atomically added: several CPUs share a flow */
	__u64 bytes;
};

/*
 * lb_flow_cache (bpf/lib/maps.h): each CPU's direct-mapped cache of
 * load-balancer flows (NAT, reverse NAT, DSR: decisions fixed for the flow's
 * life), in front of conn_table. A slot holds the flow's key and a copy of
 * its conn_table entry whose packets/bytes are the hits on this CPU not yet
 * added to the shared entry: written back with the hit that would make
 * XDPGW_LB_CACHE_FLUSH, and when another flow takes the slot. Userspace adds
 * them when it reports a flow (Datapath::cached_flow_counts).
 */
#define XDPGW_LB_CACHE_SLOT_BITS 12
#define XDPGW_LB_CACHE_SLOTS (1u << XDPGW_LB_CACHE_SLOT_BITS)
#define XDPGW_LB_CACHE_FLUSH 16

struct xdpgw_lb_cache_slot {
	struct xdpgw_flow_key key; /* 40 bytes: flow starts 8-byte aligned */
	struct xdpgw_flow flow;	   /* action XDPGW_FLOW_NONE: empty slot */
};

/* steer_stats index (per-CPU __u64): packets steered under generation g
 * (2g) and packets whose second stage began under g (2g + 1). Their
 * difference is what is still in g's CPUMAP queues (or was dropped at
 * enqueue): the daemon waits for it to drain before it rebuilds g's tables,
 * so no queued packet meets a half-built generation. */
#define XDPGW_STEER_STATS (2 * XDPGW_CONFIG_GENERATIONS)

/* conn_stats index (per-CPU __u64). Evictions are not reported by the
 * kernel; the daemon derives them: inserted - deleted - entries, per table
 * (conn_table, lb_embryonic). */
enum xdpgw_conn_stat {
	XDPGW_CONN_INSERTED = 0,    /* conn_table entries XDP created */
	XDPGW_CONN_INSERT_RACED = 1, /* another CPU created the flow first */
	XDPGW_CONN_EMBRYONIC_INSERTED = 2, /* lb_embryonic entries created */
	XDPGW_CONN_PROMOTED = 3,     /* embryonic flows moved to conn_table */
	XDPGW_CONN_PROMOTION_REFUSED = 4, /* an ACK that did not answer the backend's SYN-ACK */
	XDPGW_CONN_UDP_CAPPED = 5,   /* UDP new flows over their prefix's cap */
	XDPGW_CONN_EMBRYONIC_DELETED = 6, /* embryonic entries removed (promoted, reset) */
	XDPGW_CONN_STAT_COUNT = 7,
};

/*
 * Embryonic load-balancer flows (lb_embryonic, bpf/lib/lb.h): TCP flows the
 * gateway has no proof of yet, a SYN and nothing else, or a packet of a flow
 * no table knows (an evicted one, or a spoofed ACK). They live in their own
 * LRU, so a flood of them evicts only its own kind, never an established
 * flow in conn_table. A flow moves to conn_table (promotion) when:
 *  - NAT: the client's ACK acknowledges the backend's SYN-ACK (ack =
 *    server_isn + 1; a spoofed client never saw it), or the backend answers
 *    a flow it already knows (a re-hashed flow: anything but RST);
 *  - DSR: the client sends a second packet (the return path bypasses the
 *    gateway, so nothing better can be checked: see README, SYN floods).
 */
#define XDPGW_EMBRYONIC_TABLE_DEFAULT_SIZE 65536
#define XDPGW_EMB_F_SYN 0x1	   /* started by the client's SYN */
#define XDPGW_EMB_F_SERVER_ISN 0x2 /* server_isn holds the backend's SYN-ACK seq */
#define XDPGW_EMB_F_SEEN_TWICE 0x4 /* DSR: a non-SYN packet was seen */

struct xdpgw_embryonic {
	struct xdpgw_flow flow;
	__u32 server_isn; /* NAT reverse entry: the SYN-ACK's sequence number */
	__u32 flags;	  /* XDPGW_EMB_F_* */
};

/* UDP new-flow cap (lb_udp_new_flows, per CPU): new flows per source prefix
 * (IPv4 /24, IPv6 /48) per second, counted in one-second windows. */
#define XDPGW_UDP_CAP_V4_PREFIX 24
#define XDPGW_UDP_CAP_V6_PREFIX 48
#define XDPGW_UDP_CAP_TABLE_SIZE 16384
#define XDPGW_UDP_NEW_FLOWS_DEFAULT 2000

struct xdpgw_prefix_key {
	__u8 family;
	__u8 pad[1];
	__u8 addr[6]; /* the prefix's bytes: 3 of IPv4, 6 of IPv6 */
};

struct xdpgw_new_flow_window {
	__u64 window; /* second (bpf_ktime_get_ns() >> 30) the count is for */
	__u64 count;
};

/* ---- load balancer (bpf/lib/lb.h) --------------------------------------- */

#define XDPGW_MAX_VIPS 512
#define XDPGW_MAX_BACKENDS 4096
#define XDPGW_MAGLEV_DEFAULT_SIZE 65537
#define XDPGW_MAGLEV_MAX_SIZE 1048573 /* prime */
/* lb_rings holds one Maglev table per (VIP, generation): slot
 * vip_id * XDPGW_CONFIG_GENERATIONS + gen. */
#define XDPGW_MAX_RINGS (XDPGW_MAX_VIPS * XDPGW_CONFIG_GENERATIONS)

enum xdpgw_lb_mode {
	XDPGW_LB_NAT = 1,
	XDPGW_LB_DSR = 2,
};

/* Key of cfg_vips. port 0 = every port of proto (looked up after the exact
 * port misses). */
struct xdpgw_vip_key {
	__u8 addr[16];
	__u16 port;  /* network order */
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family; /* AF_INET or AF_INET6 */
};

struct xdpgw_vip {
	__u32 vip_id;	 /* stable across reloads: stats index */
	__u32 ring_slot; /* index into lb_rings */
	__u32 ring_size; /* entries of that ring (prime) */
	__u8 mode;	 /* enum xdpgw_lb_mode */
	__u8 flags;	 /* XDPGW_VIP_F_* */
	__u16 reserved;
	/* SYNs a second that may start flows, per CPU (lb_vip_syn_windows);
	 * 0 = no limit. What a DSR VIP has against a flood: its backends'
	 * answers bypass the gateway, so no handshake can be checked. */
	__u32 syn_rate_limit;
};

/* SYN cookies for a NAT VIP ([[vip]] synproxy): always, or while the
 * daemon's flood watch has set synproxy_active[vip_id] (mode "auto"). */
#define XDPGW_VIP_F_SYNPROXY_ON (1u << 0)
#define XDPGW_VIP_F_SYNPROXY_AUTO (1u << 1)

/* cfg_backends value, by backend id. port 0 = keep the client's dport. */
struct xdpgw_backend {
	__u8 addr[16];
	__u8 family;
	__u8 flags;
	__u16 port; /* network order */
};

/* vip_stats / backend_stats value (per CPU). */
struct xdpgw_lb_counter {
	__u64 packets;
	__u64 bytes;
	__u64 new_flows;
};


/* Tunnel sources for DSR and other LB knobs, one entry per generation. */
struct xdpgw_lb_settings {
	__u8 tunnel_src4[4];
	__u8 tunnel_src6[16];
	/* UDP new flows a source prefix may start per second on one CPU
	 * (XDPGW_UDP_CAP_*); 0: no cap. */
	__u32 udp_new_flows;
	/* [synproxy]: the MSS and window scale a cookie SYN-ACK announces
	 * (what the backends would announce themselves). */
	__u16 synproxy_mss4;
	__u16 synproxy_mss6;
	__u8 synproxy_wscale;
	__u8 pad[3];
};

/*
 * SYN cookies (bpf/synproxy.bpf.c). For a VIP with cookies on, XDP answers a
 * SYN itself with a cookie SYN-ACK and keeps nothing. The client's ACK
 * carries the cookie back; only when it checks out does the gateway open the
 * connection to the backend, with a SYN it builds from that ACK, and the
 * flow enters conn_table (XDPGW_FLOW_F_SYNPROXY) and synproxy_flows. The
 * SYN-ACK announces a zero window, so the client waits; the backend's
 * SYN-ACK becomes the window update that lets it send, and the client's
 * first segment completes the backend's handshake. From then on the
 * backend's sequence numbers and timestamps are shifted into the ones the
 * client was given, and windows rescaled, both ways.
 *
 * The cookie SYN-ACK's timestamp carries what the client's SYN asked for
 * (its window scale, SACK, and the MSS class the cookie holds), as Linux
 * does: the client echoes it in its ACK. A client that sends no timestamps
 * gets MSS only, and the backend's SYN carries XDPGW_SP_MSS_NO_TS.
 */
#define XDPGW_SP_TS_WSCALE_MASK 0xfu /* 0xf: no window scaling */
#define XDPGW_SP_TS_SACK (1u << 4)
#define XDPGW_SP_TS_MSS_SHIFT 5	    /* 2 bits: which XDPGW_SP_MSS_CLASS<n> */
#define XDPGW_SP_TS_BITS 7
#define XDPGW_SP_MSS_CLASS0 536
#define XDPGW_SP_MSS_CLASS1 1220
#define XDPGW_SP_MSS_CLASS2 1400
#define XDPGW_SP_MSS_CLASS3 1460
#define XDPGW_SP_MSS_NO_TS 1220
#define XDPGW_SP_MSS_DEFAULT4 1460
#define XDPGW_SP_MSS_DEFAULT6 1440
#define XDPGW_SP_WSCALE_DEFAULT 7
#define XDPGW_SP_WSCALE_MAX 14

enum xdpgw_synproxy_state {
	XDPGW_SP_WAIT_BACKEND = 1, /* SYN sent to the backend, its SYN-ACK not seen */
	XDPGW_SP_OPEN = 2,	   /* translating */
};

#define XDPGW_SP_OPT_TS (1u << 0)     /* timestamps negotiated with the client */
#define XDPGW_SP_OPT_SACK (1u << 1)   /* SACK permitted by the client */
#define XDPGW_SP_OPT_WSCALE (1u << 2) /* the client asked for window scaling */

/* synproxy_flows value, keyed by the flow's forward (client -> VIP) key. */
struct xdpgw_synproxy_flow {
	__u32 seq_delta;    /* backend ISN - cookie: client acks/SACKs +, backend seqs - */
	__u32 ts_delta;	    /* backend tsval - the SYN-ACK's tsval */
	__u32 client_isn;   /* the client's SYN's seq */
	__u32 cookie;	    /* the cookie SYN-ACK's seq */
	__u32 client_tsval; /* the client's latest timestamp we saw (ACK to the backend) */
	__u32 synack_tsval; /* what the cookie SYN-ACK's timestamp said */
	__u16 client_window; /* window field of the client's ACK */
	__u8 state;	    /* enum xdpgw_synproxy_state */
	__u8 options;	    /* XDPGW_SP_OPT_* */
	__u8 client_wscale;
	__u8 backend_wscale; /* 0xff: the backend did not scale */
	__u8 synack_wscale;  /* what the cookie SYN-ACK announced */
	__u8 mss_class;	     /* XDPGW_SP_MSS_CLASS<n> the cookie named; 0xff: none */
};

/* synproxy_stats value, per CPU, by VIP id. */
struct xdpgw_synproxy_counter {
	__u64 cookies_sent;	/* SYNs answered with a cookie */
	__u64 cookies_valid;	/* ACKs whose cookie checked out: a backend SYN sent */
	__u64 cookies_failed;	/* ACKs without a valid cookie: dropped */
	__u64 backend_answered; /* backend SYN-ACKs turned into the client's window */
	__u64 backend_syn_repeats; /* backend SYNs sent again (the client probed) */
	__u64 syns;		/* SYNs with cookies on, answered or not: the flood's rate */
};

/* ---- DSR decapsulation on backends (bpf/decap.bpf.c) -------------------- */

/* Index of its per-CPU counters (struct xdpgw_counter). */
enum xdpgw_decap_counter {
	XDPGW_DECAP_DONE = 0,	    /* tunnel packet decapsulated and passed */
	XDPGW_DECAP_NOT_TUNNEL = 1, /* anything else, passed untouched */
	XDPGW_DECAP_MALFORMED = 2,  /* tunnel packet we cannot decapsulate: dropped */
	XDPGW_DECAP_COUNT = 3,
};

/* ---- punt and AF_XDP (bpf/lib/punt.h) ----------------------------------- */

/*
 * Some flows need more than XDP can do: punt rules send them to the AF_XDP
 * pipeline (gateway/pipeline), which decides and writes its verdict into
 * conn_table (action FORWARD/PASS/DROP, flag OFFLOADED); from then on XDP
 * applies the verdict itself and userspace sees no more of the flow.
 */
#define XDPGW_MAX_XSKS 256	  /* XSKMAP slots: one per (interface, queue) */
#define XDPGW_MAX_PUNT_RULES 64	  /* scanned in order, first match wins */

#define XDPGW_PUNT_F_VALID (1u << 0)	     /* the scan stops at the first rule without it */
#define XDPGW_PUNT_F_FALLBACK_DROP (1u << 1) /* no socket for the queue: drop (else pass) */
/* Whether the pipeline offloads a rule's verdicts (mode "first-packet") is
 * userspace's business: XDP only punts until a verdict appears. */

/* cfg_punt inner ARRAY value, by rule index. Addresses as in xdpgw_flow_key
 * (IPv4 in the first 4 bytes). Ports host order, inclusive ranges. */
struct xdpgw_punt_rule {
	__u8 src[16];
	__u8 dst[16];
	__u8 src_prefixlen; /* 0 = any source */
	__u8 dst_prefixlen; /* 0 = any destination */
	__u8 proto;	    /* IPPROTO_TCP / IPPROTO_UDP; 0 = either */
	__u8 family;	    /* AF_INET / AF_INET6; 0 = either */
	__u16 sport_lo;
	__u16 sport_hi;
	__u16 dport_lo;
	__u16 dport_hi;
	__u32 flags;	    /* XDPGW_PUNT_F_* */
	__u32 rule_id;	    /* the rule's index in the config */
};

/* xsk_slots key: where a packet arrived. Value: __u32 XSKMAP slot. */
struct xdpgw_xsk_key {
	__u32 ifindex;
	__u32 queue;
};

/* ---- events (bpf/lib/events.h) ------------------------------------------ */

/*
 * What XDP tells the daemon as it happens, through one RINGBUF. Each CPU
 * may emit at most XDPGW_EVENTS_PER_SEC per second (the first ones of each
 * second: a flood of malformed frames yields a sample, never a swamped
 * ring); the rest are only counted (event_stats).
 */
#define XDPGW_EVENTS_RING_BYTES (256 * 1024)
#define XDPGW_EVENTS_PER_SEC 1000

enum xdpgw_event_type {
	XDPGW_EV_NEW_FLOW = 1,	      /* a punt rule sent a flow's packet to userspace */
	XDPGW_EV_FLOW_OFFLOADED = 2,  /* XDP applied an offloaded verdict for the first time */
	XDPGW_EV_RATE_LIMIT_DROP = 3, /* dropped by the rate limiter */
	XDPGW_EV_PARSE_ERROR = 4,     /* malformed or truncated frame dropped */
};

struct xdpgw_event {
	__u64 ts_ns;	/* bpf_ktime_get_ns() */
	__u32 type;	/* enum xdpgw_event_type */
	__u32 reason;	/* enum xdpgw_reason of the verdict, if any */
	__u32 ifindex;	/* ingress */
	__u32 len;	/* frame length */
	struct xdpgw_flow_key key; /* zero where no flow is known (parse errors) */
};

/* event_stats (per CPU): emitted, suppressed by the rate cap, ring full. */
enum xdpgw_event_stat {
	XDPGW_EVSTAT_EMITTED = 0,
	XDPGW_EVSTAT_SUPPRESSED = 1,
	XDPGW_EVSTAT_RING_FULL = 2,
	XDPGW_EVSTAT_COUNT = 3,
};

/* ---- packet capture (bpf/lib/capture.h) ---------------------------------- */

/*
 * Dropped packets copied to the daemon as they are dropped, for `xdpgw
 * capture --what drops` (pcap): bpf_perf_event_output with the XDP context
 * into a PERF_EVENT_ARRAY (what xdpdump does with bpf_xdp_output), a
 * header then the first `snaplen` bytes of the frame as XDP saw it when it
 * dropped it. Off (one array lookup per drop) unless a capture runs.
 */
#define XDPGW_CAPTURE_DROPS (1u << 0)
#define XDPGW_CAPTURE_MAX_SNAPLEN 65535

/* capture_cfg[0]: set by the daemon while a capture runs. */
struct xdpgw_capture_cfg {
	__u32 flags;	/* XDPGW_CAPTURE_* */
	__u32 snaplen;	/* 1..XDPGW_CAPTURE_MAX_SNAPLEN */
};

/* Precedes the frame's bytes in each sample. */
struct xdpgw_capture_hdr {
	__u64 ts_ns;	 /* bpf_ktime_get_ns() */
	__u32 reason;	 /* enum xdpgw_reason */
	__u32 ifindex;	 /* ingress */
	__u32 rx_queue;
	__u32 frame_len; /* whole frame; the sample holds min(frame_len, snaplen) */
};

/* capture_stats (per CPU): samples written, and samples the perf buffer had
 * no room for (the daemon also counts those it lost). */
enum xdpgw_capture_stat {
	XDPGW_CAPSTAT_SENT = 0,
	XDPGW_CAPSTAT_FAILED = 1,
	XDPGW_CAPSTAT_COUNT = 2,
};

/* ---- policy: ACL and rate limiter (bpf/lib/policy.h) ---- */

/*
 * ACL. Rules are evaluated in one fixed order, computed by the daemon: most
 * specific source first (a named prefix set, then longer prefixes), then most
 * specific destination, then file order; the first rule that matches decides.
 * Four LPM tries (source/destination x IPv4/IPv6) map each prefix some rule
 * names (itself or through a prefix set) to the set of rules with a prefix
 * that contains it (bit i = rule at evaluation index i); a /0 entry holds the
 * rules that do not constrain that side. One lookup per side and an AND give every
 * rule whose prefixes match; the lowest set bit whose protocol, ports and
 * ingress port also match wins.
 */
#define XDPGW_MAX_ACL_RULES 256
#define XDPGW_ACL_WORDS (XDPGW_MAX_ACL_RULES / 64)
#define XDPGW_MAX_ACL_PREFIXES 262144 /* per trie (side x family), /0 included */

enum xdpgw_acl_action {
	XDPGW_ACL_ALLOW = 1,
	XDPGW_ACL_DENY = 2,
};

/* Value of the cfg_acl_* LPM tries (keys: struct xdpgw_lpm_v4/v6_key). */
struct xdpgw_acl_ruleset {
	__u64 bits[XDPGW_ACL_WORDS];
};

#define XDPGW_ACL_F_PORTS (1u << 0) /* port ranges apply: TCP/UDP with ports only */

/* [[acl]] state: "established" is a packet of a flow [[snat]] translates,
 * either way (snat_flows has it, or snat_ports names it as that flow's
 * reply); everything else is "new". */
enum xdpgw_acl_state {
	XDPGW_ACL_STATE_ANY = 0,
	XDPGW_ACL_STATE_NEW = 1,
	XDPGW_ACL_STATE_ESTABLISHED = 2,
};

/* cfg_acl_rules value, by evaluation index. */
struct xdpgw_acl_rule {
	__u32 ifindex;	/* ingress port; 0 = any */
	__u8 proto;	/* IPPROTO_*; 0 = any */
	__u8 action;	/* enum xdpgw_acl_action */
	__u8 flags;	/* XDPGW_ACL_F_* */
	__u8 state;	/* enum xdpgw_acl_state */
	__u16 rule_id;	/* position in the config file: acl_stats index */
	__u16 sport_lo; /* inclusive ranges, host order */
	__u16 sport_hi;
	__u16 dport_lo;
	__u16 dport_hi;
	__u16 reserved2;
};

/* acl_stats index counting packets no rule matched (default action). */
#define XDPGW_ACL_STATS_DEFAULT XDPGW_MAX_ACL_RULES

/*
 * Rate limiter: one token bucket per source address, kept as a GCRA
 * "theoretical arrival time" (TAT) in a single u64 so that several CPUs
 * update it with compare-and-swap (no spin lock: not allowed in LRU values).
 * Times are ns << XDPGW_RL_FRAC_BITS, so the per-packet interval of any rate
 * up to 10 Mpps is exact or within 1/256 ns (rounded up: never over the rate).
 */
#define XDPGW_RL_FRAC_BITS 8
#define XDPGW_MAX_RL_CLASSES 64
#define XDPGW_MAX_RL_PREFIXES 4096 /* per family */
#define XDPGW_RL_TABLE_SIZE 65536  /* sources tracked at once (LRU) */
#define XDPGW_RL_NO_CLASS 0xffffffffu
/* Compare-and-swap attempts before a packet is treated as over the rate:
 * each failure means another CPU spent from the bucket, so this bounds the
 * loop without ever passing more than the bucket allows. */
#define XDPGW_RL_CAS_TRIES 8

/* cfg_rl_classes value, by class id (file order). A second, optional
 * bucket limits bytes (the frame length XDP sees); its cost per packet is
 * computed per frame: ceil(len * (1e9 << FRAC) / bytes_per_second). */
struct xdpgw_rl_class {
	__u64 interval;	/* fixed-point ns per packet = ceil(1e9 << FRAC / rate) */
	__u64 limit;	/* burst * interval: how far TAT may run ahead of now */
	__u64 bytes_per_second; /* 0 = no byte limit */
	__u64 byte_limit; /* burst_bytes * (1e9 << FRAC) / bytes_per_second */
};

/* Key of rl_buckets. */
struct xdpgw_rl_key {
	__u8 addr[16];	/* IPv4 in the first 4 bytes, rest zero */
	__u8 family;	/* AF_INET or AF_INET6 */
	__u8 pad[3];	/* zero */
};

struct xdpgw_rl_bucket {
	__u64 tat;	 /* fixed-point ns (wraps; compared as signed differences) */
	__u64 tat_bytes; /* the byte bucket's, same clock */
};

/* rl_stats value (per CPU), by class id. */
struct xdpgw_rl_counter {
	__u64 passed;
	__u64 dropped;
	__u64 new_buckets; /* sources that got a fresh (full) bucket */
};

/* cfg_policy value: one entry per generation. */
struct xdpgw_policy {
	__u32 acl_rules;	/* rules in cfg_acl_rules; 0 = ACL off */
	__u32 acl_default;	/* enum xdpgw_acl_action when no rule matches */
	__u32 rl_enabled;	/* 0 = rate limiter off */
	__u32 rl_default_class; /* class of unmatched sources; XDPGW_RL_NO_CLASS = none */
};

/* ---- flow export (bpf/lib/flow_export.h) -------------------------------- */

/*
 * Per-flow accounting of routed packets for IPFIX / NetFlow v9 export
 * (gateway/flow_export). Every packet the router redirects updates this
 * CPU's value of its flow in flow_cache (LRU_PERCPU_HASH: no atomics, no
 * shared cache line; a flood evicts the oldest flows); the daemon merges the
 * CPUs' values when it scans. The key is the packet as it leaves (after a
 * load-balancer NAT rewrite: the translated addresses) plus the ingress
 * port. Skipped entirely (one bit of meta->skip) without [flow_export].
 */
#define XDPGW_FLOW_CACHE_SIZE 65536

struct xdpgw_fe_key {
	struct xdpgw_flow_key flow; /* flow.h's key; ICMP: sport 0, dport type << 8 | code */
	__u32 ingress_ifindex;
	__u32 pad;		    /* zero */
};

/* One CPU's share of a flow since it was (re)created by XDP. */
struct xdpgw_fe_value {
	__u64 packets;
	__u64 bytes;	      /* IP total length (L3 header + payload) */
	__u64 first_ns;	      /* bpf_ktime_get_ns() of this CPU's first packet */
	__u64 last_ns;	      /* and of its latest */
	__u32 egress_ifindex; /* of the latest packet */
	__u8 tcp_flags;	      /* OR of every TCP packet's flags (FIN 0x01 ... CWR 0x80) */
	__u8 fwd_reason;      /* enum xdpgw_reason the redirect was counted as */
	__u16 pad;
};

/* flow_cfg[0], one per CPU: written by the daemon on apply (every CPU the
 * same sample_every, countdown 0); read and counted down by packets the
 * export is on for, on their CPU. Sampling draws a random gap after each
 * sampled packet (uniform in 0..2N-2 packets skipped, mean N-1), so a
 * packet not sampled costs a decrement, not a random number. */
struct xdpgw_fe_cfg {
	__u32 sample_every; /* account 1 in N packets on average; 0 and 1 = every packet */
	__u32 countdown;    /* this CPU's packets still to skip */
};

/* ---- source NAT (bpf/lib/snat.h) ------------------------------------------ */

/*
 * [[snat]] rules (IPv4 only). A flow leaving through an egress port a rule
 * names, from a source the rule covers, gets an (address, port) no other
 * live flow holds: the first packet claims the port in snat_ports with
 * BPF_NOEXIST (so two flows can never share one), then installs the flow in
 * snat_flows. Replies arrive addressed to the translated (address, port):
 * snat_ports names the inside flow, which must be the one talking to that
 * remote end. Both tables are plain HASHes, not LRU: no other traffic can
 * evict a live translation; the daemon deletes a flow when its state's
 * timeout passes (gateway/daemon/snat_expiry), flow first, then its port.
 */
#define XDPGW_SNAT_TABLE_SIZE 65536 /* flows (and ports) translated at once */
#define XDPGW_SNAT_MAX_ADDRS 8	    /* translation addresses per rule */
#define XDPGW_SNAT_MAX_MATCHES 4096 /* trie entries: prefix x egress x protocol */
/* Ports tried for a new flow: from a random one, the next ones in the range.
 * A range of at most this many ports is searched completely, so it is used
 * to its last port before a flow is refused; a wider one fails only when
 * this many ports in a row are taken (Linux's nf_nat gives up after 128
 * tries as well). */
#define XDPGW_SNAT_PROBES 128
/* The same search without bpf_loop (kernels before 5.17): a bounded loop, shorter. */
#define XDPGW_SNAT_PROBES_UNROLLED 16
#define XDPGW_SNAT_PORT_MIN_DEFAULT 1024
#define XDPGW_SNAT_PORT_MAX_DEFAULT 65535

/* cfg_snat key (LPM_TRIE): egress ifindex and protocol are matched whole,
 * then the source prefix: prefixlen = XDPGW_SNAT_MATCH_FIXED_BITS + its
 * length. A rule for every protocol is one entry per protocol. */
#define XDPGW_SNAT_MATCH_FIXED_BITS 40
struct xdpgw_snat_match_key {
	__u32 prefixlen;
	__u32 ifindex; /* egress port */
	__u8 proto;    /* IPPROTO_TCP, IPPROTO_UDP or IPPROTO_ICMP */
	__u8 addr[4];  /* source prefix, network order */
	__u8 pad[3];   /* zero */
};

#define XDPGW_SNAT_F_PASS_WHEN_FULL (1u << 0) /* no port / full table: pass, else drop */

/* cfg_snat value: what a matching new flow is translated to. */
struct xdpgw_snat_rule {
	__u32 rule_id;	  /* the rule's index in the config */
	__u32 flags;	  /* XDPGW_SNAT_F_* */
	__u16 port_lo;	  /* inclusive range, host order */
	__u16 port_hi;
	__u32 addr_count; /* 1..XDPGW_SNAT_MAX_ADDRS */
	__u32 addrs[XDPGW_SNAT_MAX_ADDRS]; /* network order; a source keeps one */
};

/* cfg_inbound value, by ingress ifindex: what may arrive on a port. */
#define XDPGW_INBOUND_F_ESTABLISHED_ONLY (1u << 0)

/* snat_ports key: a translated (address, protocol, port). Value: the
 * inside flow's key (struct xdpgw_flow_key, flow.h's builder). */
struct xdpgw_snat_port_key {
	__u32 addr;  /* network order */
	__u16 port;  /* network order; ICMP echo: the identifier */
	__u8 proto;
	__u8 pad;    /* zero */
};

/* What a translation has seen, for its timeout (OR'ed in by XDP). */
#define XDPGW_SNAT_S_OUT (1u << 0)	   /* a packet went out */
#define XDPGW_SNAT_S_IN (1u << 1)	   /* a reply came back */
#define XDPGW_SNAT_S_SYN_OUT (1u << 2)
#define XDPGW_SNAT_S_SYN_IN (1u << 3)
#define XDPGW_SNAT_S_FIN_OUT (1u << 4)
#define XDPGW_SNAT_S_FIN_IN (1u << 5)
#define XDPGW_SNAT_S_RST (1u << 6)

/* snat_flows value, keyed by the inside flow (as it arrives from inside;
 * ICMP echo: sport = identifier, dport = 0). */
struct xdpgw_snat_flow {
	__u32 addr;	    /* translated source address, network order */
	__u16 port;	    /* translated source port / identifier, network order */
	__u16 rule_id;
	__u32 state;	    /* XDPGW_SNAT_S_* */
	__u32 pad;
	__u64 created_ns;   /* bpf_ktime_get_coarse_ns() (CLOCK_MONOTONIC, tick resolution) */
	__u64 last_seen_ns; /* refreshed at most every XDPGW_SNAT_TOUCH_NS */
	__u64 packets_out;  /* atomically added */
	__u64 packets_in;
};
/* last_seen_ns is written when it is this much behind: a timeout is
 * seconds, and a shared cache line written per packet is not free. */
#define XDPGW_SNAT_TOUCH_NS (1ull << 28)

/* snat_stats index (per-CPU __u64). */
enum xdpgw_snat_stat {
	XDPGW_SNAT_CREATED = 0,	    /* translations XDP installed */
	XDPGW_SNAT_RACED = 1,	    /* another CPU installed the flow first */
	XDPGW_SNAT_PORT_TAKEN = 2,  /* probes that found their port in use */
	XDPGW_SNAT_ICMP_ERRORS = 3, /* ICMP errors translated back */
	XDPGW_SNAT_STAT_COUNT = 4,
};

/* ---- peer/sink program (bpf/peer.bpf.c) --------------------------------- */

/* The peer program counts every frame it sees; index 0 of its per-CPU
 * array. */
#define XDPGW_PEER_COUNTER_ALL 0

#endif /* XDPGW_SHARED_H */
