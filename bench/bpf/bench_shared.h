/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Types shared by the benchmark's XDP programs (gen, sink, redirect_min,
 * fib_min, drop_min, xsk_min) and the C++ benchmark tools. Fixed-width fields only,
 * explicit padding; the C++ side static_asserts the sizes
 * (bench/gen/traffic.hpp).
 */
#ifndef XDPGW_BENCH_SHARED_H
#define XDPGW_BENCH_SHARED_H

#include <linux/types.h>

/* ---- generator (gen.bpf.c) ------------------------------------------------ */

/* Ethernet + IPv6 + UDP = 62 bytes, the longest header the generator writes. */
#define XBN_GEN_MAX_HEADER 64
/* Frame sizes one run mixes (IMIX uses three). */
#define XBN_GEN_MAX_SIZE_CLASSES 4
/* Length of the repeating sequence of size classes (IMIX 7:4:1 uses 12). */
#define XBN_GEN_MAX_PATTERN 16

/*
 * One frame size. Checksums are precomputed by user space for the header
 * with the per-flow fields (UDP source port, low 16 bits of the source
 * address) and the checksum fields set to zero, as unfolded 16-bit
 * one's-complement sums of the words as they lie in memory. The payload is
 * all zeros, so it adds nothing to the UDP sum whatever its length.
 */
struct xbn_gen_size_class {
	__u32 frame_len;	/* Ethernet header to end of payload, no FCS */
	__u32 ip_csum_partial;	/* IPv4 header sum; unused for IPv6 */
	__u32 udp_csum_partial; /* pseudo header + UDP header sum */
	__u16 ip_len_be;	/* IPv4 total length / IPv6 payload length */
	__u16 udp_len_be;	/* UDP length */
};

/*
 * Everything the generator program needs, written by user space into the
 * program's .bss before load and never changed while it runs.
 */
struct xbn_gen_config {
	__u8 header[XBN_GEN_MAX_HEADER]; /* Ethernet + IP + UDP template */
	__u32 is_ipv6;		/* 0: 42-byte IPv4 header; 1: 62-byte IPv6 header */
	__u32 flows;		/* distinct 5-tuples, >= 1 */
	__u32 sport_base;	/* first UDP source port */
	__u32 sport_span;	/* source ports per source address */
	__u32 src_word_base;	/* low 16 bits of the first source address */
	__u32 pattern_len;	/* 1..XBN_GEN_MAX_PATTERN */
	__u8 pattern[XBN_GEN_MAX_PATTERN]; /* size class of frame n: pattern[n % len] */
	struct xbn_gen_size_class classes[XBN_GEN_MAX_SIZE_CLASSES];
};

/*
 * How the generator program sends the frame it built (its .bss send_mode,
 * set before load). Live frames: XDP_TX, which the kernel turns into a
 * transmit out of the test run's interface. The others run the program on
 * the receiving end of the generator's injection veth pair (the "hop"): it
 * rewrites whatever arrives there and redirects it out of gen_ports[0], the
 * path's generator veth, so the gateway receives xdp_frames as from a NIC.
 */
enum xbn_gen_send_mode {
	XBN_GEN_SEND_TX = 0,	   /* live frames: XDP_TX */
	XBN_GEN_SEND_REDIRECT = 1, /* hop: redirect to gen_ports[0] (skb feeders) */
	XBN_GEN_SEND_LOOP = 2,	   /* hop: broadcast to gen_ports {0: out, 1: the hop itself} */
};

/* Clones the tc feeder (xbn_gen_clone) makes of each skb it runs on. */
#define XBN_GEN_MAX_CLONES 256

/* Offsets of the per-flow fields in the template. */
#define XBN_GEN_ETH_LEN 14
#define XBN_GEN_V4_HEADER_LEN (14 + 20 + 8)
#define XBN_GEN_V6_HEADER_LEN (14 + 40 + 8)
#define XBN_GEN_V4_SRC_LOW_OFF (14 + 12 + 2) /* saddr bytes 2..3 */
#define XBN_GEN_V6_SRC_LOW_OFF (14 + 8 + 14) /* saddr bytes 14..15 */

/* ---- sink (sink.bpf.c) ------------------------------------------------------ */

enum xbn_sink_counter {
	XBN_SINK_MATCHED = 0, /* UDP to the generator's destination port */
	XBN_SINK_OTHER = 1,   /* anything else (IPv6 ND/MLD of the gateway, ...) */
	XBN_SINK_COUNTERS = 2,
};

struct xbn_counter {
	__u64 packets;
	__u64 bytes;
};

/* ---- minimal redirect (redirect_min.bpf.c) ------------------------------ */

/* The MACs the minimal forwarder writes into every frame. */
struct xbn_redirect_macs {
	__u8 dst[6];
	__u8 src[6];
};

/* ---- minimal FIB router (fib_min.bpf.c) ------------------------------- */

/* DEVMAP_HASH entries: egress ports by ifindex (a gateway has two). */
#define XBN_FIB_MAX_PORTS 8

/* ---- AF_XDP ceiling (xsk_min.bpf.c) ------------------------------------- */

/* XSKMAP entries, one per rx queue (a veth has one). */
#define XBN_XSK_MAX_QUEUES 4

#endif /* XDPGW_BENCH_SHARED_H */
