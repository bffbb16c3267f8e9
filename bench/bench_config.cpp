// Config load time for large files: parse (toml++ + RawConfig) and validate
// (ranges, references, duplicates) of a generated config, the two stages
// `xdpgw check`, `run` and every reload go through before anything is applied.
//
// The file is generated once per size, in memory, section by section
// (LargeConfigSpec / write_*): today [gateway], two [[port]]s and
// [[routing.route]] (half IPv4 /32s, half IPv6 /64s, all inside the benchmark
// ranges), and for the policy benchmarks the largest policy the schema takes:
// 256 [[acl]] rules with distinct source prefixes and 8,192 rate-limit class
// prefixes (4,096 per family, the datapath's LPM tries' size); and 100,000
// ACL prefixes in one [[prefix_set]] (a block list), written inline in the
// TOML or read from its own file, beside 10,000 routes.
//
// Counters: routes in the file, file bytes, and the cost per route
// (route_cost, seconds per route; Google Benchmark prints it with an SI
// prefix, e.g. 1.2u = 1.2 us).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "config/config.hpp"
#include "config/raw_config.hpp"
#include "harness/interfaces.hpp"

namespace {

using namespace xdpgw::config;

struct LargeConfigSpec {
  std::size_t routes = 10'000;  // static routes, half IPv4, half IPv6
  std::size_t acl_rules = 0;    // [[acl]] rules, each with its own /32 or /64 source
  std::size_t rl_prefixes = 0;  // [[ratelimit.class]] sources, spread over 64 classes
};

// Interfaces the generated config names; validate only asks for ifindexes.
xdpgw::test::FixedInterfaces bench_interfaces() {
  return xdpgw::test::FixedInterfaces({{"xgw0", 2}, {"xgw1", 3}});
}

void write_gateway(std::string& out) {
  out += "[gateway]\ninstance = \"bench\"\n\n[[port]]\nname = \"xgw0\"\n\n[[port]]\nname = \"xgw1\"\n\n";
}

// Routes: IPv4 /32s counting up from 198.18.0.0 (the /15 holds 131072),
// IPv6 /64s counting up in 2001:2::/48 (65536 of them), alternating, so both
// tries and both address parsers get their share.
void write_routes(std::string& out, std::size_t count) {
  if (count / 2 > 65536) throw std::invalid_argument("at most 131072 routes fit the benchmark ranges");
  out += "[routing]\nsource = \"static\"\n\n";
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t n = i / 2;
    if (i % 2 == 0) {
      fmt::format_to(std::back_inserter(out),
                     "[[routing.route]]\nprefix = \"198.{}.{}.{}/32\"\nvia = \"198.18.1.2\"\nport = \"xgw0\"\n\n",
                     18 + n / 65536, (n / 256) % 256, n % 256);
    } else {
      fmt::format_to(std::back_inserter(out),
                     "[[routing.route]]\nprefix = \"2001:2:0:{:x}::/64\"\nvia = \"2001:2:0:1::2\"\nport = \"xgw1\"\n\n",
                     n);
    }
  }
}

// ACL rules: alternating IPv4 /32 and IPv6 /64 sources (distinct from the
// route prefixes' order, same ranges), denying TCP to a port each.
void write_acl(std::string& out, std::size_t count) {
  if (count == 0) return;
  out += "[policy]\nacl_default = \"allow\"\n\n";
  for (std::size_t i = 0; i < count; ++i) {
    const std::string src = i % 2 ? fmt::format("2001:2:0:{:x}::/64", 0x8000 + i / 2)
                                  : fmt::format("198.18.{}.{}/32", 128 + (i / 2) / 256, (i / 2) % 256);
    out += fmt::format("[[acl]]\naction = \"deny\"\nsrc = \"{}\"\nprotocol = \"tcp\"\ndst_ports = \"{}\"\n\n", src,
                       1000 + i);
  }
}

// Rate-limit classes (64, the maximum) sharing `count` source prefixes,
// half IPv4 /32s, half IPv6 /64s.
void write_ratelimit(std::string& out, std::size_t count) {
  if (count == 0) return;
  constexpr std::size_t kClasses = 64;
  out += "[ratelimit]\n\n";
  for (std::size_t c = 0; c < kClasses; ++c) {
    out += fmt::format("[[ratelimit.class]]\nname = \"c{}\"\npackets_per_second = 10000\nburst = 1000\nsources = [", c);
    for (std::size_t i = c; i < count; i += kClasses) {
      out += i % 2 ? fmt::format("\"2001:2:0:{:x}::/64\",", 0x4000 + i / 2)
                   : fmt::format("\"198.19.{}.{}/32\",", (i / 2) / 256, (i / 2) % 256);
    }
    out += "]\n\n";
  }
}

std::string make_config(const LargeConfigSpec& spec) {
  std::string out;
  out.reserve(spec.routes * 90 + 256);
  write_gateway(out);
  write_routes(out, spec.routes);
  write_acl(out, spec.acl_rules);
  write_ratelimit(out, spec.rl_prefixes);
  return out;
}

const std::string& config_text(std::size_t routes) {
  static std::map<std::size_t, std::string> cache;
  auto it = cache.find(routes);
  if (it == cache.end()) it = cache.emplace(routes, make_config({.routes = routes})).first;
  return it->second;
}

void set_counters(benchmark::State& state, const std::string& text, std::size_t routes) {
  state.counters["routes"] = double(routes);
  state.counters["file_bytes"] = double(text.size());
  state.counters["route_cost"] = benchmark::Counter(
      double(routes), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
}

// A generated config that does not load is a bug in the generator or in
// config/: stop the benchmark with the first error rather than time errors.
void fail_on_errors(benchmark::State& state, const std::vector<ConfigError>& errors) {
  state.SkipWithError(fmt::format("generated config refused: {} error(s), first: {}", errors.size(),
                                  errors.front().to_string())
                          .c_str());
}

void BM_ConfigParse(benchmark::State& state) {
  const auto routes = std::size_t(state.range(0));
  const std::string& text = config_text(routes);
  for (auto _ : state) {
    auto raw = parse_string(text, "bench.toml");
    if (!raw.ok()) return fail_on_errors(state, raw.errors());
    benchmark::DoNotOptimize(raw);
  }
  set_counters(state, text, routes);
}

void BM_ConfigValidate(benchmark::State& state) {
  const auto routes = std::size_t(state.range(0));
  const std::string& text = config_text(routes);
  const auto raw = parse_string(text, "bench.toml");
  if (!raw.ok()) return fail_on_errors(state, raw.errors());
  const auto env = bench_interfaces();
  for (auto _ : state) {
    auto config = validate(raw.value(), env);
    if (!config.ok()) return fail_on_errors(state, config.errors());
    if (config.value().routing.routes.size() != routes) {
      state.SkipWithError("validated config lost routes");
      return;
    }
    benchmark::DoNotOptimize(config);
  }
  set_counters(state, text, routes);
}

// Parse + validate of `text` per iteration; false after a refused config
// (the benchmark is stopped with its first error).
bool parse_validate_loop(benchmark::State& state, const std::string& text) {
  const auto env = bench_interfaces();
  for (auto _ : state) {
    auto raw = parse_string(text, "bench.toml");
    if (!raw.ok()) {
      fail_on_errors(state, raw.errors());
      return false;
    }
    auto config = validate(raw.value(), env);
    if (!config.ok()) {
      fail_on_errors(state, config.errors());
      return false;
    }
    benchmark::DoNotOptimize(config);
  }
  return true;
}

// What a reload pays before apply: parse + validate of the whole file.
void BM_ConfigParseValidate(benchmark::State& state) {
  const auto routes = std::size_t(state.range(0));
  const std::string& text = config_text(routes);
  if (parse_validate_loop(state, text)) set_counters(state, text, routes);
}

// The largest policy the config takes (256 ACL rules, 8,192 rate-limit
// prefixes) beside 10,000 routes: what a reload of a full policy costs.
void BM_ConfigParseValidatePolicy(benchmark::State& state) {
  static const std::string text = make_config({.routes = 10'000, .acl_rules = 256, .rl_prefixes = 8'192});
  if (!parse_validate_loop(state, text)) return;
  state.counters["acl_rules"] = 256;
  state.counters["rl_prefixes"] = 8'192;
  set_counters(state, text, 10'000);
}
BENCHMARK(BM_ConfigParseValidatePolicy)->Unit(benchmark::kMillisecond);

// 100,000 ACL prefixes (half IPv4 /24../32 in 10.0.0.0/8, half IPv6 /48../64
// in 2001:db8::/32; a block list names no test hosts) in one [[prefix_set]]
// denied by one rule, beside 10,000 routes. Arg 0: the prefixes inline in the
// TOML (`prefixes = [...]`); arg 1: in a file beside the config (`file`), one
// per line, as feeds are written.
constexpr std::size_t kAclSetPrefixes = 100'000;

std::vector<std::string> acl_set_entries() {
  std::vector<std::string> entries;
  uint64_t x = 0x9e3779b97f4a7c15ull;  // xorshift: the same list every run
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (std::size_t i = 0; i < kAclSetPrefixes; ++i) {
    const uint64_t r = next();
    if (i % 2 == 0) {
      const unsigned len = 24 + unsigned(r % 9);
      const uint32_t net = (0x0a000000u | uint32_t(r >> 8 & 0xffffff)) & (~0u << (32 - len));
      entries.push_back(fmt::format("{}.{}.{}.{}/{}", net >> 24, net >> 16 & 0xff, net >> 8 & 0xff,
                                    net & 0xff, len));
    } else {
      entries.push_back(fmt::format("2001:db8:{:x}:{:x}::/64", uint16_t(r >> 8), uint16_t(r >> 24)));
    }
  }
  return entries;
}

class TempDir {
 public:
  TempDir() {
    std::string name = (std::filesystem::temp_directory_path() / "xdpgw-bench-XXXXXX").string();
    if (mkdtemp(name.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = name;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

void BM_ConfigParseValidateAclSet(benchmark::State& state) {
  const bool from_file = state.range(0) == 1;
  const auto entries = acl_set_entries();
  // Random prefixes repeat now and then; the set merges repeats.
  const std::size_t distinct = std::set<std::string>(entries.begin(), entries.end()).size();
  std::string text = make_config({.routes = 10'000});
  text += "[[prefix_set]]\nname = \"blocklist\"\n";
  const TempDir dir;
  std::size_t list_bytes = 0;
  if (from_file) {
    std::string list;
    for (const auto& e : entries) list += e + "\n";
    list_bytes = list.size();
    std::ofstream(dir.path() / "blocklist.txt") << list;
    text += "file = \"blocklist.txt\"\n";
  } else {
    text += "prefixes = [\n";
    for (const auto& e : entries) text += fmt::format("  \"{}\",\n", e);
    text += "]\n";
  }
  text += "\n[[acl]]\naction = \"deny\"\nsrc = \"@blocklist\"\n";
  // Relative `file` paths resolve against the config's directory.
  const std::string source_name = (dir.path() / "bench.toml").string();
  const auto env = bench_interfaces();
  for (auto _ : state) {
    auto raw = parse_string(text, source_name);
    if (!raw.ok()) return fail_on_errors(state, raw.errors());
    auto config = validate(raw.value(), env);
    if (!config.ok()) return fail_on_errors(state, config.errors());
    if (config.value().policy.prefix_sets.at(0).prefixes.size() != distinct) {
      state.SkipWithError("validated set lost prefixes");
      return;
    }
    benchmark::DoNotOptimize(config);
  }
  state.counters["acl_prefixes"] = double(kAclSetPrefixes);
  state.counters["distinct"] = double(distinct);
  state.counters["list_file_bytes"] = double(list_bytes);
  set_counters(state, text, 10'000);
  state.SetLabel(from_file ? "prefixes from a file" : "prefixes inline in the TOML");
}
BENCHMARK(BM_ConfigParseValidateAclSet)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void sizes(benchmark::internal::Benchmark* b) {
  b->Arg(1'000)->Arg(10'000)->Arg(100'000)->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_ConfigParse)->Apply(sizes);
BENCHMARK(BM_ConfigValidate)->Apply(sizes);
BENCHMARK(BM_ConfigParseValidate)->Apply(sizes);

}  // namespace

BENCHMARK_MAIN();
