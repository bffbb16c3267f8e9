/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Optional kernel features the datapath may go without (shared.h,
 * XDPGW_FEAT_*). A `const volatile` global lives in .rodata, which libbpf
 * freezes after the daemon sets it: the verifier then knows its value and
 * never looks at a branch it rules out.
 */
#ifndef XDPGW_FEATURES_H
#define XDPGW_FEATURES_H

#include <linux/types.h>

#include "xdpgw/shared.h"

/* Defined once, in stages.bpf.c; the static linker resolves the rest. */
extern const volatile __u32 xdpgw_features;

static __always_inline int have_feature(__u32 bit)
{
	return (xdpgw_features & bit) != 0;
}

#endif /* XDPGW_FEATURES_H */
