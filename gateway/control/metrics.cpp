// render_prometheus: the text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/).
#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <iterator>
#include <stdexcept>
#include <string_view>
#include <unordered_set>

#include "control/metrics.hpp"

namespace xdpgw::control {
namespace {

bool is_alpha_(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool valid_metric_name(std::string_view s) {
  if (s.empty() || !(is_alpha_(s[0]) || s[0] == ':')) return false;
  for (char c : s)
    if (!(is_alpha_(c) || is_digit(c) || c == ':')) return false;
  return true;
}

// [a-zA-Z_][a-zA-Z0-9_]*, and not "__…", which Prometheus keeps for itself.
bool valid_label_name(std::string_view s) {
  if (s.empty() || !is_alpha_(s[0]) || s.starts_with("__")) return false;
  for (char c : s)
    if (!(is_alpha_(c) || is_digit(c))) return false;
  return true;
}

// HELP text escapes backslash and newline; label values also double quote.
void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '"':
        out += quote ? "\\\"" : "\"";
        break;
      default: out += c;
    }
  }
}

// Counters are integers; "1.234e+06" would be correct but hard to read and
// diff, so integral values within 64 bits are printed as integers.
void append_value(std::string& out, double v) {
  auto it = std::back_inserter(out);
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else if (v == std::trunc(v) && v >= -0x1p63 && v < 0x1p63) {
    fmt::format_to(it, "{}", static_cast<int64_t>(v));
  } else if (v == std::trunc(v) && v >= 0 && v < 0x1p64) {
    fmt::format_to(it, "{}", static_cast<uint64_t>(v));
  } else {
    // Shortest text that parses back to the same double (Go's ParseFloat,
    // which Prometheus uses, reads every form fmt produces).
    fmt::format_to(it, "{}", v);
  }
}

}  // namespace

std::string render_prometheus(const std::vector<MetricFamily>& families) {
  std::string out;
  std::unordered_set<std::string_view> seen;
  for (const auto& f : families) {
    if (!valid_metric_name(f.name))
      throw std::invalid_argument(fmt::format("invalid metric name \"{}\"", f.name));
    if (!seen.insert(f.name).second)
      throw std::invalid_argument(fmt::format("metric family \"{}\" appears twice", f.name));
    if (f.type != "counter" && f.type != "gauge")
      throw std::invalid_argument(fmt::format(
          "metric {}: type \"{}\" is neither counter nor gauge", f.name, f.type));

    if (!f.help.empty()) {
      out += "# HELP ";
      out += f.name;
      out += ' ';
      append_escaped(out, f.help, /*quote=*/false);
      out += '\n';
    }
    out += "# TYPE ";
    out += f.name;
    out += ' ';
    out += f.type;
    out += '\n';

    for (const auto& s : f.samples) {
      out += f.name;
      if (!s.labels.empty()) {
        out += '{';
        for (std::size_t i = 0; i < s.labels.size(); ++i) {
          const auto& [name, value] = s.labels[i];
          if (!valid_label_name(name))
            throw std::invalid_argument(
                fmt::format("metric {}: invalid label name \"{}\"", f.name, name));
          for (std::size_t j = 0; j < i; ++j)
            if (s.labels[j].first == name)
              throw std::invalid_argument(
                  fmt::format("metric {}: label \"{}\" given twice", f.name, name));
          if (i > 0) out += ',';
          out += name;
          out += "=\"";
          append_escaped(out, value, /*quote=*/true);
          out += '"';
        }
        out += '}';
      }
      out += ' ';
      append_value(out, s.value);
      out += '\n';
    }
  }
  return out;
}

}  // namespace xdpgw::control
