#include "runner/report.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace xdpgw::bench {
namespace {

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::ranges::sort(values);
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

const PathResult* find_role(const CaseResult& result, PathRole role) {
  for (const PathResult& path : result.paths) {
    if (path.role == role && !path.samples.empty()) return &path;
  }
  return nullptr;
}

// Median ns per run of the path's ingress XDP program over its rounds.
std::optional<double> median_prog_ns(const PathResult& path) {
  std::vector<double> ns;
  for (const Sample& s : path.samples) {
    if (s.prog && s.prog->runs > 0) ns.push_back(s.prog->ns_per_run());
  }
  if (ns.empty()) return std::nullopt;
  return median(ns);
}

std::optional<double> prog_ratio(const std::optional<double>& ns, const PathResult* reference) {
  if (!ns || !reference) return std::nullopt;
  const std::optional<double> base = median_prog_ns(*reference);
  if (!base || *base <= 0) return std::nullopt;
  return *ns / *base;
}

// The samples a path's rate comes from: those taken with BPF run-time stats
// off when there are any (their clock reads are not part of the path's
// cost), else all.
std::vector<const Sample*> rate_samples(const PathResult& path) {
  std::vector<const Sample*> out;
  for (const Sample& s : path.samples)
    if (!s.prog_stats) out.push_back(&s);
  if (out.empty())
    for (const Sample& s : path.samples) out.push_back(&s);
  return out;
}

double median_mpps(const PathResult& path) {
  std::vector<double> mpps;
  for (const Sample* s : rate_samples(path)) mpps.push_back(s->mpps());
  return median(mpps);
}

// 1234567 -> "1,234,567"
std::string grouped(uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// A multi-line error (a daemon's log with the verifier's) for a table
// note: its first line and its last two, where the reason is.
std::string brief(const std::string& error) {
  std::vector<std::string> lines;
  for (std::size_t start = 0; start < error.size();) {
    const std::size_t end = std::min(error.find('\n', start), error.size());
    if (end > start) lines.push_back(error.substr(start, end - start));
    start = end + 1;
  }
  if (lines.size() <= 3) return fmt::format("{}", fmt::join(lines, " / "));
  return fmt::format("{} [...] {} / {} (whole text in results.json)", lines.front(), lines[lines.size() - 2],
                     lines.back());
}

std::string optional_fixed(const std::optional<double>& value, int decimals, std::string_view suffix = "") {
  return value ? fmt::format("{:.{}f}{}", *value, decimals, suffix) : "–";
}

nlohmann::json sample_json(const Sample& s) {
  return {{"round", s.round},
          {"offered", s.offered},
          {"forwarded", s.forwarded},
          {"dropped", s.dropped},
          {"handled", s.handled()},
          {"lost", s.lost()},
          {"seconds", s.seconds},
          {"wall_seconds", s.wall_seconds},
          {"mpps", s.mpps()},
          {"prog_stats", s.prog_stats},
          {"sink_other_frames", s.sink_other},
          {"path_counters", s.counters},
          {"xdp_program", s.prog ? nlohmann::json{{"id", s.prog->id},
                                                  {"name", s.prog->name},
                                                  {"run_cnt", s.prog->runs},
                                                  {"run_time_ns", s.prog->run_time_ns},
                                                  {"ns_per_packet", s.prog->ns_per_run()}}
                                 : nlohmann::json(nullptr)}};
}

nlohmann::json optional_json(const std::optional<double>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

std::string mib(uint64_t bytes) { return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20)); }

// For cases that differ only in their flow count (same family and frame
// mix): each path's median Mpps over its median in the family's first such
// case, i.e. what the extra flows cost. Empty when no two cases compare.
std::string flows_comparison(const ScenarioResult& scenario) {
  std::string rows;
  for (std::size_t i = 0; i < scenario.cases.size(); ++i) {
    const CaseResult& c = scenario.cases[i];
    const CaseResult* base = nullptr;
    for (std::size_t j = 0; j < i && !base; ++j) {
      const TrafficCase& t = scenario.cases[j].traffic;
      if (t.family == c.traffic.family && t.mix.name == c.traffic.mix.name && t.flows != c.traffic.flows) {
        base = &scenario.cases[j];
      }
    }
    if (!base) continue;
    for (std::size_t p = 0; p < c.paths.size() && p < base->paths.size(); ++p) {
      const PathResult& now = c.paths[p];
      const PathResult& then = base->paths[p];
      if (now.samples.empty() || then.samples.empty()) continue;
      const double a = median_mpps(then), b = median_mpps(now);
      rows += fmt::format("| {} {} | {} | {} → {} | {:.2f} | {:.2f} | {:.2f} |\n",
                          c.traffic.family == IpFamily::kIpv6 ? "IPv6" : "IPv4",
                          c.traffic.mix.name == "imix" ? "IMIX" : c.traffic.mix.name + "B", now.label,
                          grouped(base->traffic.flows), grouped(c.traffic.flows), a, b,
                          a > 0 ? b / a : 0.0);
    }
  }
  if (rows.empty()) return "";
  return "\nFlow count (same run, same frame count): Mpps with more flows / Mpps with fewer\n\n"
         "| traffic | path | flows | Mpps, fewer | Mpps, more | ratio |\n|---|---|---|---:|---:|---:|\n" + rows;
}

// What a goal compares: the ingress XDP program's own cost (kernel
// bpf_stats), or the gateway's whole cost per packet (ns added over the
// generator's ceiling, from the rate on one CPU), for comparisons with
// paths that have no program of their own (nftables).
enum class GoalFigure { kProgramNs, kGatewayNs };

// The issues' performance goals, each a ratio of one path's figure to a
// reference measured in the same case of the same run. One list: the
// table below is built from it and nowhere else names the goals.
struct Goal {
  std::string_view issue;
  std::string_view scenario;
  std::string_view path;       // PathResult::name of the subject
  std::string_view what;
  std::string_view reference;  // a PathResult::name, or "" for the role below
  PathRole reference_role = PathRole::kFibReference;
  double at_most = 0;
  std::optional<IpFamily> family;  // the goal holds for this family only
  GoalFigure figure = GoalFigure::kProgramNs;
};

constexpr Goal kGoals[] = {
    {"#17", "router", "fib", "FIB routing", "", PathRole::kFibReference, 1.15, std::nullopt},
    {"#17", "router", "static", "static routes", "", PathRole::kXdpCeiling, 2.0, std::nullopt},
    {"#17", "router", "kroutes", "kernel routes mirrored", "", PathRole::kFibReference, 0.9,
     IpFamily::kIpv6},
    {"#17", "lb-nat", "lbnat", "LB nat", "", PathRole::kFibReference, 1.6, std::nullopt},
    {"#17", "lb-dsr", "lbdsr", "LB dsr", "", PathRole::kFibReference, 1.6, std::nullopt},
    {"#22", "flow-export", "feon", "flow export, every packet", "feoff", PathRole::kSubject, 1.3,
     std::nullopt},
    {"#22", "flow-export", "fe100", "flow export, 1 in 100", "feoff", PathRole::kSubject, 1.05,
     std::nullopt},
    // At least 5x cheaper per packet than nftables masquerade + conntrack.
    {"#18", "snat", "snat", "SNAT masquerade, gateway ns/packet", "nftsnat", PathRole::kKernel, 0.2,
     std::nullopt, GoalFigure::kGatewayNs},
};

// The figure a goal compares, for a path measured without a failed check;
// nullopt otherwise, or when noise left it at zero or below (ns added).
std::optional<double> goal_figure(const CaseResult& c, const PathResult* path, GoalFigure figure) {
  if (path == nullptr || path->samples.empty() || path->error) return std::nullopt;
  const PathSummary summary = summarize(c, *path);
  const std::optional<double> ns = figure == GoalFigure::kProgramNs ? summary.prog_ns : summary.ns_added;
  if (!ns || *ns <= 0) return std::nullopt;
  return ns;
}

const PathResult* find_path(const CaseResult& c, std::string_view name, PathRole role) {
  for (const PathResult& p : c.paths)
    if (name.empty() ? p.role == role : p.name == name) return &p;
  return nullptr;
}

// One row per goal and traffic case the run measured.
std::string goals_markdown(const std::vector<ScenarioResult>& results) {
  std::string rows;
  for (const Goal& goal : kGoals) {
    for (const ScenarioResult& scenario : results) {
      if (scenario.name != goal.scenario) continue;
      for (const CaseResult& c : scenario.cases) {
        if (goal.family && c.traffic.family != *goal.family) continue;
        const PathResult* subject = find_path(c, goal.path, PathRole::kSubject);
        const PathResult* reference = find_path(c, goal.reference, goal.reference_role);
        const auto ns = goal_figure(c, subject, goal.figure);
        const auto ref_ns = goal_figure(c, reference, goal.figure);
        if (!ns || !ref_ns) continue;
        const double ratio = *ns / *ref_ns;
        rows += fmt::format("| {} | {} | {} | {} | {:.0f} | {} {:.0f} | {:.2f} | ≤ {:.2f} | {} |\n", goal.issue,
                            goal.what, c.traffic.name(),
                            goal.figure == GoalFigure::kProgramNs ? "XDP program" : "gateway",
                            *ns, reference->label, *ref_ns, ratio, goal.at_most,
                            ratio <= goal.at_most ? "met" : "missed");
      }
    }
  }
  if (rows.empty()) return "";
  return "## Goals of the open issues\n\nCost per packet of the subject over a reference measured "
         "in the same case of this run, median of the rounds. `XDP program`: the ingress "
         "program's own cost (kernel bpf_stats). `gateway`: the whole gateway's cost, ns added "
         "over the generator's ceiling (1e3 / Mpps on the one CPU that runs everything), for "
         "references without a program.\n\n"
         "| issue | goal | traffic | figure | ns | reference, ns | ratio | goal | |\n"
         "|---|---|---|---|---:|---|---:|---:|---|\n" +
         rows + "\n";
}

// Path details (ForwardingPath::details()), once per path: the connection
// table's kernel memory and the daemon's RSS, in words.
std::string details_markdown(const ScenarioResult& scenario) {
  if (scenario.cases.empty()) return "";
  std::string out;
  for (const PathResult& path : scenario.cases.back().paths) {
    if (path.details.empty()) continue;
    std::vector<std::string> parts;
    if (path.details.contains("conn_table")) {
      const nlohmann::json& t = path.details.at("conn_table");
      const uint64_t max_entries = t.at("max_entries").get<uint64_t>();
      const uint64_t memlock = t.at("memlock_bytes").get<uint64_t>();
      const double per_entry = t.at("memlock_bytes_per_entry").get<double>();
      parts.push_back(fmt::format(
          "connection table (LRU_HASH, every entry allocated when the map is created): {} "
          "entries of key {} B + value {} B, kernel memory (memlock) {} in total = {:.0f} bytes "
          "per entry ({:.0f} per NAT flow, which takes two; DSR takes one); {} entries in use "
          "at the end (the flows of every case and family measured; a later case reuses the entries of "
          "the flows it shares with an earlier one)",
          grouped(max_entries), t.at("key_bytes").get<uint64_t>(), t.at("value_bytes").get<uint64_t>(),
          mib(memlock), per_entry, 2 * per_entry, grouped(t.at("entries_in_use").get<uint64_t>())));
    }
    if (path.details.contains("snat_flows") && path.details.contains("snat_ports")) {
      double per_translation = 0;
      std::vector<std::string> tables;
      for (const char* name : {"snat_flows", "snat_ports"}) {
        const nlohmann::json& t = path.details.at(name);
        per_translation += t.at("memlock_bytes_per_entry").get<double>();
        tables.push_back(fmt::format("{} (HASH, preallocated: {} entries of key {} B + value {} B, "
                                     "memlock {}, {} in use)",
                                     name, grouped(t.at("max_entries").get<uint64_t>()),
                                     t.at("key_bytes").get<uint64_t>(), t.at("value_bytes").get<uint64_t>(),
                                     mib(t.at("memlock_bytes").get<uint64_t>()),
                                     grouped(t.at("entries_in_use").get<uint64_t>())));
      }
      parts.push_back(fmt::format("source NAT: {:.0f} bytes of kernel memory per translation, one "
                                  "entry in each of {}",
                                  per_translation, fmt::join(tables, " and ")));
    }
    if (path.details.contains("conntrack")) {
      const nlohmann::json& ct = path.details.at("conntrack");
      parts.push_back(fmt::format("conntrack: {} entries in the gateway namespace at the end; at "
                                  "least {} bytes of kernel memory per entry (the nf_conntrack "
                                  "slab object; NAT's extension area is a separate allocation)",
                                  grouped(ct.at("entries_in_use").get<uint64_t>()),
                                  ct.at("nf_conn_object_bytes").get<uint64_t>()));
    }
    if (path.details.contains("daemon_rss_bytes")) {
      parts.push_back(fmt::format("daemon RSS {} (peak {})",
                                  mib(path.details.at("daemon_rss_bytes").get<uint64_t>()),
                                  mib(path.details.at("daemon_peak_rss_bytes").get<uint64_t>())));
    }
    if (parts.empty()) parts.push_back(path.details.dump());
    out += fmt::format("- {}: {}\n", path.label, fmt::join(parts, "; "));
  }
  return out.empty() ? "" : "\nMemory (after the last case):\n\n" + out;
}

bool scenario_counts_drops(const ScenarioResult& scenario) {
  for (const CaseResult& c : scenario.cases) {
    for (const PathResult& path : c.paths) {
      if (path.counts_drops) return true;
    }
  }
  return false;
}

}  // namespace

PathSummary summarize(const CaseResult& result, const PathResult& path) {
  PathSummary out;
  std::vector<double> mpps;
  for (const Sample& s : path.samples) {
    out.offered += s.offered;
    out.forwarded += s.forwarded;
    out.dropped += s.dropped;
    out.lost += s.lost();
  }
  for (const Sample* s : rate_samples(path)) mpps.push_back(s->mpps());
  if (mpps.empty()) return out;
  out.prog_ns = median_prog_ns(path);
  if (out.prog_ns) {
    std::vector<double> ns;
    for (const Sample& s : path.samples) {
      if (s.prog && s.prog->runs > 0) {
        ns.push_back(s.prog->ns_per_run());
        out.prog_name = s.prog->name;
      }
    }
    out.prog_min_ns = *std::ranges::min_element(ns);
    out.prog_max_ns = *std::ranges::max_element(ns);
    if (path.role != PathRole::kGeneratorCeiling) {
      out.prog_vs_xdp_ceiling = prog_ratio(out.prog_ns, find_role(result, PathRole::kXdpCeiling));
      out.prog_vs_fib_reference = prog_ratio(out.prog_ns, find_role(result, PathRole::kFibReference));
    }
  }
  out.median_mpps = median(mpps);
  out.min_mpps = *std::ranges::min_element(mpps);
  out.max_mpps = *std::ranges::max_element(mpps);
  if (out.median_mpps <= 0) return out;
  out.ns_per_packet = 1e3 / out.median_mpps;
  if (const PathResult* ceiling = find_role(result, PathRole::kGeneratorCeiling)) {
    out.ns_added = out.ns_per_packet - 1e3 / median_mpps(*ceiling);
  }
  if (const PathResult* xdp = find_role(result, PathRole::kXdpCeiling)) {
    out.vs_xdp_ceiling = out.median_mpps / median_mpps(*xdp);
  }
  if (const PathResult* kernel = find_role(result, PathRole::kKernel)) {
    out.vs_kernel = out.median_mpps / median_mpps(*kernel);
  }
  return out;
}

nlohmann::json to_json(const RunInfo& info, const std::vector<ScenarioResult>& results) {
  nlohmann::json scenarios = nlohmann::json::array();
  for (const ScenarioResult& scenario : results) {
    nlohmann::json cases = nlohmann::json::array();
    for (const CaseResult& c : scenario.cases) {
      nlohmann::json paths = nlohmann::json::array();
      for (const PathResult& path : c.paths) {
        const PathSummary sum = summarize(c, path);
        nlohmann::json samples = nlohmann::json::array();
        for (const Sample& s : path.samples) samples.push_back(sample_json(s));
        paths.push_back({{"name", path.name},
                         {"label", path.label},
                         {"role", to_string(path.role)},
                         {"description", path.description},
                         {"ingress_xdp_attach_mode", path.attach_mode},
                         {"error", path.error ? nlohmann::json(*path.error) : nlohmann::json(nullptr)},
                         {"offered", sum.offered},
                         {"forwarded", sum.forwarded},
                         {"dropped", sum.dropped},
                         {"counts_drops", path.counts_drops},
                         {"lost", sum.lost},
                         {"median_mpps", sum.median_mpps},
                         {"min_mpps", sum.min_mpps},
                         {"max_mpps", sum.max_mpps},
                         {"ns_per_packet", sum.ns_per_packet},
                         {"ns_added_vs_generator_ceiling", optional_json(sum.ns_added)},
                         {"ratio_vs_xdp_ceiling", optional_json(sum.vs_xdp_ceiling)},
                         {"ratio_vs_kernel", optional_json(sum.vs_kernel)},
                         {"xdp_program",
                          sum.prog_ns ? nlohmann::json{{"name", sum.prog_name},
                                                       {"ns_per_packet_median", *sum.prog_ns},
                                                       {"ns_per_packet_min", optional_json(sum.prog_min_ns)},
                                                       {"ns_per_packet_max", optional_json(sum.prog_max_ns)},
                                                       {"ratio_vs_xdp_ceiling_program", optional_json(sum.prog_vs_xdp_ceiling)},
                                                       {"ratio_vs_fib_min_program", optional_json(sum.prog_vs_fib_reference)}}
                                      : nlohmann::json(nullptr)},
                         {"details", path.details},
                         {"samples", samples}});
      }
      cases.push_back({{"name", c.traffic.name()},
                       {"family", to_string(c.traffic.family)},
                       {"frame_size", c.traffic.mix.name},
                       {"frame_lengths", c.traffic.mix.frame_lengths},
                       {"mean_frame_bytes", c.traffic.mix.mean_length()},
                       {"flows", c.traffic.flows},
                       {"destination", c.traffic.destination.empty() ? nlohmann::json(nullptr)
                                                                     : nlohmann::json(c.traffic.destination)},
                       {"paths", paths}});
    }
    scenarios.push_back({{"name", scenario.name},
                         {"title", scenario.title},
                         {"notes", scenario.notes},
                         {"cases", cases}});
  }
  nlohmann::json generator = nullptr;
  if (info.generator) {
    nlohmann::json trials = nlohmann::json::array();
    for (const GeneratorTrial& t : info.generator->trials) {
      trials.push_back({{"generator", to_string(t.kind)},
                        {"description", describe(t.kind)},
                        {"works", t.mpps.has_value()},
                        {"mpps_into_xdp_drop", optional_json(t.mpps)},
                        {"offered", t.offered},
                        {"delivered", t.delivered},
                        {"seconds", t.seconds},
                        {"error", t.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(t.error)}});
    }
    generator = {{"chosen", to_string(info.generator->chosen)},
                 {"chosen_by", info.generator->forced ? "--generator" : "highest rate into an XDP_DROP sink"},
                 {"description", describe(info.generator->chosen)},
                 {"calibration", trials}};
  }
  return {{"tool", "xdpgw-bench"},
          {"mode", info.mode},
          {"started_at", info.started_at},
          {"interrupted", info.interrupted},
          {"error", info.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(info.error)},
          {"machine",
           {{"kernel", info.kernel},
            {"cpu_model", info.cpu_model},
            {"cpus", info.cpus},
            {"load_average_start", info.load_average_start},
            {"load_average_end", info.load_average_end}}},
          {"method",
           {{"generator", generator},
            {"frames", "every frame written whole by bench/bpf/gen.bpf.c from a template (flow, size, "
                       "checksums)"},
            {"xdp_program_cost",
             {{"stats", info.prog_stats_method},
              {"figure", "per measurement: delta run_time_ns / delta run_cnt of the XDP program "
                         "attached to the gateway's ingress port (bpf_prog_info); for xdpgw its "
                         "dispatcher, which includes the handlers it tail-calls; median over rounds"},
              {"ratios", "median ns of the path's program / median ns of the minimal XDP program "
                         "(redirect_min, drop_min or xsk_min) and of fib_min in the same case"}}},
            {"generator_cpu", info.generator_cpu},
            {"frames_per_measurement", info.frames_per_measurement},
            {"rounds", info.rounds},
            {"batch_size", info.batch_size},
            {"generator_sched_fifo", info.realtime},
            {"timing", "first to last generated frame (bpf_ktime_get_ns in the generator)"},
            {"mpps", "frames handled / timing: counted at the sink, plus dropped by the path's own "
                     "verdict where it counts drops (ACL, rate limiter)"},
            {"ns_added", "1e3 / Mpps - 1e3 / Mpps(generator ceiling), medians"}}},
          {"xdpgw_version", info.xdpgw_version},
          {"scenarios", scenarios}};
}

std::string to_markdown(const RunInfo& info, const std::vector<ScenarioResult>& results) {
  std::string md = fmt::format("# xdpgw benchmark ({} run{})\n\n", info.mode,
                               info.interrupted ? ", INTERRUPTED: partial" : "");
  if (!info.error.empty()) md += fmt::format("**Run stopped early:** {}\n\n", info.error);
  md += fmt::format(
      "Linux {} · {} CPUs ({}) · generator and every path on CPU {}{} (veth runs the receiving "
      "side on the sending CPU) · {} frames per measurement · {} rounds, interleaved, median · "
      "load average {} at start, {} at end · {} · {}\n\n",
      info.kernel, info.cpus, info.cpu_model, info.generator_cpu,
      info.realtime ? ", generator SCHED_FIFO" : "",
      grouped(info.frames_per_measurement), info.rounds, info.load_average_start,
      info.load_average_end, info.started_at, info.xdpgw_version);
  if (info.generator) {
    md += fmt::format("## Generator: {}\n\nChosen by {}: {}.\n\n", to_string(info.generator->chosen),
                      info.generator->forced ? "--generator" : "the highest rate into an XDP_DROP sink at the "
                                                               "start of this run",
                      describe(info.generator->chosen));
    md += "| candidate | works here | Mpps into XDP_DROP (64 B IPv4, ~1 s) | why not |\n|---|---|---:|---|\n";
    for (const GeneratorTrial& t : info.generator->trials) {
      md += fmt::format("| {}{} | {} | {} | {} |\n", to_string(t.kind),
                        t.kind == info.generator->chosen ? " (chosen)" : "", t.mpps ? "yes" : "no",
                        optional_fixed(t.mpps, 3), t.error.empty() ? "" : brief(t.error));
    }
    md += "\n";
  }
  md += goals_markdown(results);
  bool any_drops = false;
  for (const ScenarioResult& scenario : results) {
    md += fmt::format("## {}\n\n", scenario.title);
    // A "dropped" column only where a path drops on purpose (ACL, rate
    // limiter): elsewhere it would be a column of zeros.
    const bool drops = scenario_counts_drops(scenario);
    any_drops |= drops;
    md += fmt::format(
        "| traffic | path | XDP on ingress | offered | forwarded | {}lost | Mpps median (min–max) "
        "| ns/packet | ns added vs generator | × minimal XDP | × Linux |\n"
        "|---|---|---|---:|---:|{}---:|---:|---:|---:|---:|---:|\n",
        drops ? "dropped by the path | " : "", drops ? "---:|" : "");
    std::string notes;
    for (const CaseResult& c : scenario.cases) {
      for (const PathResult& path : c.paths) {
        if (path.error && path.samples.empty()) {
          md += fmt::format("| {} | {} | {} | – | – | {}– | did not forward | – | – | – | – |\n",
                            c.traffic.name(), path.label, path.attach_mode, drops ? "– | " : "");
          notes += fmt::format("- {}, {}: {}\n", c.traffic.name(), path.label, brief(*path.error));
          continue;
        }
        if (path.samples.empty()) continue;  // interrupted before it
        if (path.error) {
          notes += fmt::format("- {}, {}: **FAILED**, {}\n", c.traffic.name(), path.label, *path.error);
        }
        const PathSummary sum = summarize(c, path);
        const std::string dropped =
            !drops ? "" : (path.counts_drops ? grouped(sum.dropped) : std::string("–")) + " | ";
        md += fmt::format("| {} | {}{} | {} | {} | {} | {}{} | {:.2f} ({:.2f}–{:.2f}) | {:.0f} | {} | {} | {} |\n",
                          c.traffic.name(), path.label, path.error ? " **(FAILED CHECK)**" : "",
                          path.attach_mode, grouped(sum.offered),
                          grouped(sum.forwarded), dropped, grouped(sum.lost), sum.median_mpps, sum.min_mpps,
                          sum.max_mpps, sum.ns_per_packet,
                          path.role == PathRole::kGeneratorCeiling ? std::string("0 (reference)")
                                                                   : optional_fixed(sum.ns_added, 0),
                          optional_fixed(sum.vs_xdp_ceiling, 2), optional_fixed(sum.vs_kernel, 2));
        if (sum.lost > 0) {
          // Where the frames went: the path's counters of the round that lost most.
          const auto worst = std::ranges::max_element(
              path.samples, {}, [](const Sample& s) { return s.lost(); });
          std::string counters;
          for (const auto& [name, value] : worst->counters) counters += fmt::format(" {}={}", name, value);
          notes += fmt::format("- {}, {}: {} of {} frames lost over all rounds; round {} counters:{}\n",
                               c.traffic.name(), path.label, grouped(sum.lost),
                               grouped(sum.offered), worst->round, counters);
        }
      }
    }
    // The programs' own cost: comparable whatever limits the rate.
    std::string prog_rows;
    for (const CaseResult& c : scenario.cases) {
      for (const PathResult& path : c.paths) {
        const PathSummary sum = summarize(c, path);
        if (!sum.prog_ns) continue;
        prog_rows += fmt::format("| {} | {} | {} | {:.1f} ({:.1f}–{:.1f}) | {} | {} |\n", c.traffic.name(),
                                 path.label, sum.prog_name, *sum.prog_ns, sum.prog_min_ns.value_or(0),
                                 sum.prog_max_ns.value_or(0), optional_fixed(sum.prog_vs_xdp_ceiling, 2),
                                 optional_fixed(sum.prog_vs_fib_reference, 2));
      }
    }
    if (!prog_rows.empty()) {
      md += "\nPer-packet cost of the XDP program on the gateway's ingress port (kernel bpf_stats: "
            "Δrun_time_ns / Δrun_cnt per round, median; for xdpgw the dispatcher including the "
            "handlers it tail-calls; for the generator row the sink):\n\n"
            "| traffic | path | program | ns/packet median (min–max) | × minimal XDP program | × fib_min |\n"
            "|---|---|---|---:|---:|---:|\n" +
            prog_rows;
    }
    if (!notes.empty()) md += "\nLosses and failures:\n\n" + notes;
    md += flows_comparison(scenario);
    md += details_markdown(scenario);
    if (!scenario.notes.empty()) {
      md += "\nNotes:\n\n";
      for (const std::string& note : scenario.notes) md += "- " + note + "\n";
    }
    md += "\n";
  }
  md += "Mpps = generator frames counted at the sink / time from the first to the last "
        "generated frame, all on one core (generator, gateway and sink: veth runs the receiving "
        "side on the sending CPU), so 1000/Mpps is the whole path's CPU time per packet. ns added "
        "= 1000/Mpps − 1000/Mpps of the generator → sink path in the same traffic case: what the "
        "gateway hop costs. × columns = median Mpps / the reference's median Mpps. BPF run-time "
        "stats were on during every measurement (" + info.prog_stats_method + "), which adds two "
        "clock reads to every BPF program run, generator and sink included; except the second "
        "measurement per round of scenarios whose notes say so, from which their rates come. "
        "Speeds are figures, never pass/fail.\n";
  if (any_drops) {
    md += "\nWhere a table has a \"dropped by the path\" column, Mpps counts frames handled: "
          "those counted at the sink plus those the path dropped by its own verdict (ACL deny, "
          "rate limit, an nftables drop rule, the minimal XDP_DROP), each from the path's own "
          "counters; lost = offered − both.\n";
  }
  return md;
}

std::string chart_data(const std::vector<ScenarioResult>& results) {
  std::string out;
  for (const ScenarioResult& scenario : results) {
    if (scenario.cases.empty()) continue;
    // Two blank lines separate blocks (gnuplot `index`); none after the
    // last, or gnuplot counts an empty block.
    if (!out.empty()) out += "\n\n";
    out += fmt::format("# {}\n\"traffic\"", scenario.title);
    for (const PathResult& path : scenario.cases.front().paths) out += fmt::format(" \"{}\"", path.label);
    out += '\n';
    for (const CaseResult& c : scenario.cases) {
      out += fmt::format("\"{}\"", c.traffic.name());
      for (const PathResult& path : c.paths) {
        const PathSummary sum = summarize(c, path);
        out += path.samples.empty() ? std::string(" ?") : fmt::format(" {:.3f}", sum.median_mpps);
      }
      out += '\n';
    }
  }
  return out;
}

}  // namespace xdpgw::bench
