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

#endif /* XDPGW_CSUM_H */
