// Just enough eBPF instruction encoders to hand-assemble the tiny XDP programs
// the harness selftests need (the kernel's BPF_* insn macros are not in the
// uapi headers).
#pragma once

#include <linux/bpf.h>

#include <cstdint>

namespace xdpgw::test::insn {

constexpr bpf_insn make(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  return bpf_insn{.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
}

constexpr bpf_insn mov64_imm(uint8_t dst, int32_t imm) {
  return make(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm);
}
constexpr bpf_insn mov64_reg(uint8_t dst, uint8_t src) {
  return make(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0);
}
constexpr bpf_insn add64_imm(uint8_t dst, int32_t imm) {
  return make(BPF_ALU64 | BPF_ADD | BPF_K, dst, 0, 0, imm);
}
// dst = *(size *)(src + off); size is BPF_B, BPF_H, BPF_W or BPF_DW.
constexpr bpf_insn load(uint8_t size, uint8_t dst, uint8_t src, int16_t off) {
  return make(BPF_LDX | size | BPF_MEM, dst, src, off, 0);
}
// *(size *)(dst + off) = imm
constexpr bpf_insn store_imm(uint8_t size, uint8_t dst, int16_t off, int32_t imm) {
  return make(BPF_ST | size | BPF_MEM, dst, 0, off, imm);
}
// if dst > src goto pc + 1 + off
constexpr bpf_insn jgt_reg(uint8_t dst, uint8_t src, int16_t off) {
  return make(BPF_JMP | BPF_JGT | BPF_X, dst, src, off, 0);
}
// if dst != imm goto pc + 1 + off
constexpr bpf_insn jne_imm(uint8_t dst, int32_t imm, int16_t off) {
  return make(BPF_JMP | BPF_JNE | BPF_K, dst, 0, off, imm);
}
constexpr bpf_insn call(int32_t helper) { return make(BPF_JMP | BPF_CALL, 0, 0, 0, helper); }
constexpr bpf_insn exit() { return make(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }

// struct xdp_md field offsets.
inline constexpr int16_t kData = 0;
inline constexpr int16_t kDataEnd = 4;
inline constexpr int16_t kDataMeta = 8;
inline constexpr int16_t kIngressIfindex = 12;
inline constexpr int16_t kRxQueueIndex = 16;

}  // namespace xdpgw::test::insn
