/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Internet checksum helpers: incremental updates (RFC 1624). */
#ifndef XDPGW_CSUM_H
#define XDPGW_CSUM_H

#include <linux/ip.h>
#include <bpf/bpf_endian.h>

/* TTL is the high byte of the 16-bit word (ttl, protocol): decrementing it
 * subtracts 0x0100 from that word, so the one's-complement checksum grows by
 * 0x0100, with the end-around carry folded back (as the kernel's
 * ip_decrease_ttl does). */
static __always_inline void ipv4_decrease_ttl(struct iphdr *ip)
{
	__u32 check = ip->check;

	check += bpf_htons(0x0100);
	ip->check = (__u16)(check + (check >= 0xFFFF));
	ip->ttl--;
}

/*
 * Incremental updates for rewritten fields (RFC 1624, eqn. 3:
 * HC' = ~(~HC + ~m + m')). Fields are summed as they lie in the packet, in
 * 32-bit or 16-bit units at even offsets; the one's-complement sum does not
 * care about byte order as long as the checksum is read the same way.
 * `delta` accumulates ~m + m' for every changed field of one checksum.
 */
static __always_inline __u16 csum_fold64(__u64 sum)
{
	sum = (sum & 0xFFFFFFFF) + (sum >> 32);
	sum = (sum & 0xFFFFFFFF) + (sum >> 32);
	sum = (sum & 0xFFFF) + (sum >> 16);
	sum = (sum & 0xFFFF) + (sum >> 16);
	return (__u16)sum;
}

/* RFC 1812 5.2.2: a router verifies the IPv4 header checksum and discards a
 * packet whose checksum is wrong. The one's-complement sum of a correct
 * header, checksum included, is 0xFFFF in either byte order. For the 20-byte
 * header only: one with options goes to the kernel, which checks it. */
static __always_inline int ipv4_checksum_ok(const struct iphdr *ip)
{
	const __u32 *w = (const void *)ip;

	return csum_fold64((__u64)w[0] + w[1] + w[2] + w[3] + w[4]) == 0xFFFF;
}

static __always_inline __u64 csum_delta32(__u64 delta, __u32 from, __u32 to)
{
	return delta + (__u32)~from + to;
}

static __always_inline __u64 csum_delta16(__u64 delta, __u16 from, __u16 to)
{
	return delta + (__u16)~from + to;
}

/* Adds the words of an address change (4 or 16 bytes) to `delta`. */
static __always_inline __u64 csum_delta_addr(__u64 delta, const __u32 *from,
					     const __u32 *to, int words)
{
#pragma unroll
	for (int i = 0; i < 4; i++) {
		if (i >= words)
			break;
		delta = csum_delta32(delta, from[i], to[i]);
	}
	return delta;
}

static __always_inline __u16 csum_apply(__u16 check, __u64 delta)
{
	return (__u16)~csum_fold64((__u64)(__u16)~check + delta);
}

/* Checksum of a freshly built header of `words` 32-bit words. */
static __always_inline __u16 csum_words(const __u32 *hdr, int words)
{
	__u64 sum = 0;

#pragma unroll
	for (int i = 0; i < 10; i++) {
		if (i >= words)
			break;
		sum += hdr[i];
	}
	return (__u16)~csum_fold64(sum);
}

#endif /* XDPGW_CSUM_H */
