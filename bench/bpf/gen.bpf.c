// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Traffic generator. Two ways to run it (send_mode, enum xbn_gen_send_mode):
 *
 * - Live frames: BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES (the
 *   in-kernel packet generator xdp-trafficgen uses) hands this program one
 *   page-pool frame per repetition; XDP_TX turns into a redirect out of the
 *   ingress interface given in ctx_in, i.e. onto the wire of the
 *   generator's veth. Kernels that refuse live frames (EPERM on 6.18.44)
 *   need the other way.
 * - Hop: attached to the receiving end of an injection veth pair, it turns
 *   whatever arrives there into the next frame and redirects it out of the
 *   path's generator veth (gen_ports[0]). What arrives is either skbs from
 *   a feeder (the tc clone amplifier below, or trafgen), or, in loop mode,
 *   its own frames coming back: it broadcasts each frame to gen_ports {0,
 *   1}, the copy to 1 (this very interface) goes out to the peer, whose
 *   reflector (xbn_gen_reflect) sends it straight back. A few seed frames
 *   then keep a loop running that emits one fresh copy per turn, entirely
 *   as xdp_frames.
 *
 * Why every frame is rewritten from a template: live-frames pages are
 * recycled without being reset, and a frame comes back after the gateway
 * rewrote it in place (MACs, TTL, checksum) on its way to the sink. A
 * generator that only bumped a port would send frames with ever lower TTLs.
 * So each frame gets the full Ethernet/IP/UDP header, its size class, its
 * flow's source port and source address, and correct checksums.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "bench_shared.h"

/* Written by user space between open and load (skeleton .bss), read-only
 * afterwards. Not rodata: clang folds copies out of `const volatile`
 * arrays to their compile-time zeros (PLATFORM.md). */
struct xbn_gen_config gen_config __attribute__((aligned(8)));

/* enum xbn_gen_send_mode; set before load. */
__u32 send_mode;

/* Hop modes: 0 = the path's generator veth, 1 = the hop interface itself
 * (loop mode's way back). Filled by user space from inside the generator's
 * namespace (DEVMAP entries resolve there). */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} gen_ports SEC(".maps");

/* tc clone feeder: clones per run of xbn_gen_clone, and where they go
 * (the injection veth, egress). Set by user space before each run. */
__u32 clone_count;
__u32 clone_ifindex;
/* bpf_clone_redirect failures (the clone was not sent). */
__u64 clone_errors;

/* ---- per-run controls: written by user space before each run (the .bss
 * is mmap()ed), read here ---- */

/* Frames are sent while frames_built < run_frame_limit; invocations past it
 * send nothing. */
__u64 run_frame_limit;
/* frames_built at the start of the run: its frame is timed. */
__u64 run_first_frame;
/* 0: send on every invocation. Otherwise the minimum gap between two frames
 * in ns: invocations that come too early send nothing (a token bucket that
 * paces frames one by one, without the ~25 ms a test run costs to start). */
__u64 pace_ns;

/* ---- state: written here, read by user space ---- */

/* Frames built and returned XDP_TX for. The test run executes the program
 * on one CPU with migration disabled, so plain updates are exact. */
__u64 frames_built;
/* bpf_ktime_get_ns() of the run's first frame and of the frame that
 * reached run_frame_limit. User space divides by their difference: the time
 * the path took for the frames, without the test run's start-up and
 * teardown. */
__u64 first_frame_ns;
__u64 last_frame_ns;
/* Pacing: when the next frame may leave. */
__u64 next_send_ns;
/* Invocations that sent nothing (paced, or past the limit). */
__u64 idle_invocations;

/* A paced generator that fell behind (a test run starting, an interrupt)
 * catches up by at most this many frames at once, not by a burst of
 * everything it missed. */
#define PACE_MAX_CATCH_UP 64

/* Folds an unfolded one's-complement sum of memory-order 16-bit words and
 * complements it: the checksum field as it must lie in memory. */
static __always_inline __u16 csum_finish(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* UDP sends a computed zero as all ones (RFC 768; mandatory for IPv6). */
static __always_inline __u16 udp_csum_finish(__u32 sum)
{
	__u16 csum = csum_finish(sum);

	return csum ? csum : 0xffff;
}

/* Copies the first `words` 8-byte words of the template. Both ends are
 * 8-byte aligned (the config starts with the header; live frames start at
 * XDP_PACKET_HEADROOM), so word copies are valid and ~8x fewer
 * instructions than clang's byte-wise memcpy into packet memory. */
#define COPY_WORDS(dst, src, words)                                        \
	do {                                                               \
		_Pragma("unroll") for (int i_ = 0; i_ < (words); i_++)     \
			((__u64 *)(dst))[i_] = ((const __u64 *)(src))[i_]; \
	} while (0)

SEC("xdp")
int xbn_gen(struct xdp_md *ctx)
{
	const struct xbn_gen_config *cfg = &gen_config;
	const __u64 n = frames_built;

	if (n >= run_frame_limit) {
		/* Also ends loop mode: every circulating frame is dropped. */
		idle_invocations++;
		return XDP_DROP;
	}
	if (pace_ns) {
		const __u64 now = bpf_ktime_get_ns();

		if (now < next_send_ns) {
			idle_invocations++;
			/* In loop mode the frame is the generator's: keep it
			 * circulating (back to the reflector) until it is due. */
			return send_mode == XBN_GEN_SEND_LOOP ? XDP_TX : XDP_DROP;
		}
		__u64 next = next_send_ns + pace_ns;

		if (next + PACE_MAX_CATCH_UP * pace_ns < now)
			next = now;
		next_send_ns = next;
	}
	frames_built = n + 1;
	if (n == run_first_frame)
		first_frame_ns = bpf_ktime_get_ns();
	if (n + 1 == run_frame_limit)
		last_frame_ns = bpf_ktime_get_ns();

	/* 64-bit on purpose: with a __u32 clang compares only the low half
	 * and the verifier rejects the unbounded index. */
	const __u64 slot = n % cfg->pattern_len;
	if (slot >= XBN_GEN_MAX_PATTERN)
		return XDP_ABORTED; /* user space validated pattern_len */
	__u32 cls = cfg->pattern[slot];
	if (cls >= XBN_GEN_MAX_SIZE_CLASSES)
		return XDP_ABORTED;
	const struct xbn_gen_size_class *size = &cfg->classes[cls];

	/* The kernel resets data/data_end to the configured (largest) frame
	 * before every run; shrink to this frame's size. */
	int delta = (int)size->frame_len - (int)(ctx->data_end - ctx->data);
	if (delta != 0 && bpf_xdp_adjust_tail(ctx, delta) != 0)
		return XDP_ABORTED;

	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	const __u32 flow = n % cfg->flows;
	const __u16 sport_be = bpf_htons((__u16)(cfg->sport_base + flow % cfg->sport_span));
	const __u16 src_low_be = bpf_htons((__u16)(cfg->src_word_base + flow / cfg->sport_span));

	if (cfg->is_ipv6) {
		if (data + XBN_GEN_V6_HEADER_LEN > data_end)
			return XDP_ABORTED;
		COPY_WORDS(data, cfg->header, 7); /* 56 of 62 bytes */
		*(__u32 *)(data + 56) = *(const __u32 *)(cfg->header + 56);
		*(__u16 *)(data + 60) = *(const __u16 *)(cfg->header + 60);

		struct ipv6hdr *ip6 = data + XBN_GEN_ETH_LEN;
		struct udphdr *udp = (void *)(ip6 + 1);
		ip6->payload_len = size->ip_len_be;
		*(__u16 *)(data + XBN_GEN_V6_SRC_LOW_OFF) = src_low_be;
		udp->source = sport_be;
		udp->len = size->udp_len_be;
		udp->check = udp_csum_finish(size->udp_csum_partial + sport_be + src_low_be);
	} else {
		if (data + XBN_GEN_V4_HEADER_LEN > data_end)
			return XDP_ABORTED;
		COPY_WORDS(data, cfg->header, 5); /* 40 of 42 bytes */
		*(__u16 *)(data + 40) = *(const __u16 *)(cfg->header + 40);

		struct iphdr *ip = data + XBN_GEN_ETH_LEN;
		struct udphdr *udp = (void *)(ip + 1);
		ip->tot_len = size->ip_len_be;
		*(__u16 *)(data + XBN_GEN_V4_SRC_LOW_OFF) = src_low_be;
		ip->check = csum_finish(size->ip_csum_partial + src_low_be);
		udp->source = sport_be;
		udp->len = size->udp_len_be;
		udp->check = udp_csum_finish(size->udp_csum_partial + sport_be + src_low_be);
	}
	switch (send_mode) {
	case XBN_GEN_SEND_REDIRECT:
		return bpf_redirect_map(&gen_ports, 0, XDP_DROP);
	case XBN_GEN_SEND_LOOP:
		/* The DEVMAP clones the frame for every entry but the last,
		 * which gets the frame itself: entry 0 (out) a copy, entry 1
		 * (back into the loop) this frame. */
		return bpf_redirect_map(&gen_ports, 0, BPF_F_BROADCAST);
	default:
		return XDP_TX;
	}
}

/* Loop mode: on the injection veth's other end, send every frame back. */
SEC("xdp")
int xbn_gen_reflect(struct xdp_md *ctx)
{
	return XDP_TX;
}

/*
 * tc clone feeder, run by a plain BPF_PROG_TEST_RUN (repeat = runs): every
 * run sends clone_count clones of its skb out of the injection veth, whose
 * peer runs xbn_gen in redirect mode. The clones are skbs, so the peer's
 * veth copies each into a page-pool page before XDP sees it.
 */
SEC("tc")
int xbn_gen_clone(struct __sk_buff *skb)
{
	const __u32 count = clone_count;

	for (__u32 i = 0; i < XBN_GEN_MAX_CLONES; i++) {
		if (i >= count)
			break;
		if (bpf_clone_redirect(skb, clone_ifindex, 0) != 0)
			clone_errors++;
	}
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
