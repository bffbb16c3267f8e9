// The libbpf log capture: the pure parsing of a real verifier log captured on
// this kernel, and the capture around a real object load the verifier
// refuses.
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstdarg>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "datapath/bpf_log.hpp"
#include "harness/names.hpp"

#ifndef XDPGW_TEST_DATA_DIR
#error "XDPGW_TEST_DATA_DIR must be defined by the build"
#endif
#ifndef XDPGW_TEST_REFUSED_OBJ
#error \
    "XDPGW_TEST_REFUSED_OBJ (tests/datapath/bpf/refused.bpf.c, compiled) must be defined by the build"
#endif

namespace xdpgw::test {
namespace {

using bpf_log::LibbpfLogCapture;
using bpf_log::parse_load_failure;

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  if (!in) throw std::runtime_error("cannot read " + p.string());
  return s.str();
}

// What libbpf 1.1.2 printed (every level) while loading build/bpf/xdpgw.bpf.o
// on 6.18.44-fc-v1300 before xdpgw stopped using XDP metadata: the dispatcher refused for
// calling bpf_xdp_adjust_meta, after ~1,400 lines of relocation chatter (the
// fixture keeps the last of them) and 185 lines of verifier log.
std::string adjust_meta_log() {
  return read_file(std::filesystem::path(XDPGW_TEST_DATA_DIR) /
                   "xdpgw_dispatch_adjust_meta.libbpf.log");
}

TEST(ParseLoadFailure, NamesTheRefusedProgramAndTheVerifiersLastLines) {
  const auto f = parse_load_failure(adjust_meta_log());
  EXPECT_EQ(f.program, "xdpgw_dispatch");
  EXPECT_EQ(f.error, "Invalid argument");
  // Instructions lose their register state; "processed N insns" is left out;
  // the C source line of the failing call is reached back for.
  const std::vector<std::string> want = {
      "; if (bpf_xdp_adjust_meta(ctx, (int)existing - (int)sizeof(meta))) @ dispatcher.bpf.c:49",
      "873: (c5) if r1 s< 0x0 goto pc+1",
      "874: (bc) w2 = w3",
      "875: (bf) r1 = r6",
      "876: (85) call bpf_xdp_adjust_meta#54",
      "program of this type cannot use helper bpf_xdp_adjust_meta#54",
  };
  EXPECT_EQ(f.verifier_lines, want);
  EXPECT_TRUE(f.warnings.empty());
}

TEST(ParseLoadFailure, SummaryIsAFewLinesNamingProgramAndCause) {
  const auto summary = bpf_log::format_summary(parse_load_failure(adjust_meta_log(), 2));
  EXPECT_EQ(
      summary,
      "program 'xdpgw_dispatch' refused by the verifier (Invalid argument):\n"
      "  ; if (bpf_xdp_adjust_meta(ctx, (int)existing - (int)sizeof(meta))) @ dispatcher.bpf.c:49\n"
      "  876: (85) call bpf_xdp_adjust_meta#54\n"
      "  program of this type cannot use helper bpf_xdp_adjust_meta#54");
}

TEST(ParseLoadFailure, WithoutAProgramLogTheLastWarningsAreTheSummary) {
  const auto f = parse_load_failure(
      "libbpf: loading object from x.bpf.o\n"
      "libbpf: map 'cpu_map': failed to create: Argument list too long(-7)\n"
      "libbpf: failed to load object 'x.bpf.o'\n",
      2);
  EXPECT_EQ(f.program, "");
  EXPECT_TRUE(f.verifier_lines.empty());
  EXPECT_EQ(f.warnings,
            (std::vector<std::string>{"map 'cpu_map': failed to create: Argument list too long(-7)",
                                      "failed to load object 'x.bpf.o'"}));
  EXPECT_EQ(bpf_log::format_summary(f),
            "libbpf: map 'cpu_map': failed to create: Argument list too long(-7)\n"
            "  libbpf: failed to load object 'x.bpf.o'");
}

TEST(ParseLoadFailure, AnErrorThatLooksLikeRegisterStateIsKept) {
  const auto f = parse_load_failure(
      "libbpf: prog 'p': BPF program load failed: Permission denied\n"
      "libbpf: prog 'p': -- BEGIN PROG LOAD LOG --\n"
      "0: R1=ctx() R10=fp0\n"
      "0: (85) call bpf_loop#181\n"
      "R2 !read_ok\n"
      "processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 1 peak_states 1 "
      "mark_read 0\n"
      "-- END PROG LOAD LOG --\n");
  EXPECT_EQ(f.program, "p");
  EXPECT_EQ(f.verifier_lines,
            (std::vector<std::string>{"0: (85) call bpf_loop#181", "R2 !read_ok"}));
}

// ---- the capture around a real load ----

int g_outer_calls = 0;
int outer_print(enum libbpf_print_level, const char*, va_list) {
  ++g_outer_calls;
  return 0;
}

// Installs outer_print for the test and puts back whatever was there.
struct OuterPrint {
  libbpf_print_fn_t saved = libbpf_set_print(outer_print);
  ~OuterPrint() { libbpf_set_print(saved); }
};

TEST(LibbpfLogCapture, SummarisesARealRefusalAndKeepsTheWholeLog) {
  OuterPrint outer;
  const auto log_file = std::filesystem::temp_directory_path() / (unique_name("bpflog") + ".log");
  struct Remove {
    std::filesystem::path p;
    ~Remove() { std::filesystem::remove(p); }
  } remove{log_file};
  std::string summary, text;
  {
    LibbpfLogCapture capture;
    bpf_object* obj = bpf_object__open_file(XDPGW_TEST_REFUSED_OBJ, nullptr);
    ASSERT_NE(obj, nullptr) << XDPGW_TEST_REFUSED_OBJ;
    const int err = bpf_object__load(obj);
    bpf_object__close(obj);
    EXPECT_LT(err, 0);
    summary = capture.summary();
    text = capture.text();
    capture.write_full(log_file);
  }
  EXPECT_EQ(summary.substr(0, summary.find('\n')),
            "program 'xgt_unchecked_read' refused by the verifier (Permission denied):")
      << summary;
  EXPECT_NE(summary.find("invalid access to packet"), std::string::npos) << summary;
  EXPECT_NE(summary.find("R1 offset is outside of the packet"), std::string::npos) << summary;
  EXPECT_NE(summary.find("@ refused.bpf.c:16"), std::string::npos) << summary;
  // The full log: libbpf's debug chatter too, and the program log whole.
  EXPECT_EQ(read_file(log_file), text);
  EXPECT_NE(text.find("-- BEGIN PROG LOAD LOG --"), std::string::npos);
  EXPECT_NE(text.find("libbpf: loading object from"), std::string::npos) << text;
  EXPECT_EQ(g_outer_calls, 0)
      << "the capture let messages through to the print function it replaced";

  // Restored: the next libbpf message goes to the print function from before.
  bpf_object* missing = bpf_object__open_file("/nonexistent/xgt.bpf.o", nullptr);
  EXPECT_EQ(missing, nullptr);
  EXPECT_GT(g_outer_calls, 0);
}

TEST(LibbpfLogCapture, NestedCapturesRestoreEachOther) {
  OuterPrint outer;
  LibbpfLogCapture outer_capture;
  {
    LibbpfLogCapture inner;
    (void)bpf_object__open_file("/nonexistent/inner.bpf.o", nullptr);
    EXPECT_NE(inner.text().find("inner.bpf.o"), std::string::npos) << inner.text();
  }
  (void)bpf_object__open_file("/nonexistent/outer.bpf.o", nullptr);
  EXPECT_NE(outer_capture.text().find("outer.bpf.o"), std::string::npos) << outer_capture.text();
  EXPECT_EQ(outer_capture.text().find("inner.bpf.o"), std::string::npos);
}

TEST(LibbpfLogCapture, WriteFullNamesAPathItCannotWrite) {
  LibbpfLogCapture capture;
  try {
    capture.write_full("/nonexistent/dir/xgt.log");
    FAIL() << "no error";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/xgt.log"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace xdpgw::test
