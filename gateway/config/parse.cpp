// Stage 1: TOML text -> RawConfig (syntax, types, key names; see
// raw_config.hpp). Ranges, formats and references are validate's business.
#include <toml++/toml.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <iterator>
#include <set>

#include "config/error_list.hpp"
#include "config/raw_config.hpp"

namespace xdpgw::config {
namespace {

SourcePos start_of(const toml::source_region& region) {
  return {region.begin.line, region.begin.column};
}

// For "must be an integer, not a string".
std::string_view a_type_name(toml::node_type type) {
  switch (type) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    case toml::node_type::none: break;
  }
  return "nothing";
}

// Reads one TOML table into Raw* fields. Each getter consumes one key the
// schema knows and checks its type; reject_unknown_keys() then reports every
// key no getter asked for.
class TableReader {
 public:
  // `path` is the table's dotted name ("" for the document root); `in_array`
  // says it is an element of an array of tables, i.e. written [[path]].
  TableReader(const toml::table& table, std::string path, bool in_array, ErrorList& errors)
      : table_(&table), path_(std::move(path)), in_array_(in_array), errors_(&errors) {}

  SourcePos pos() const { return start_of(table_->source()); }

  RawString string(std::string_view key) {
    const toml::node* node = take(key);
    if (node == nullptr) return std::nullopt;
    if (const auto* value = node->as_string()) {
      return Located<std::string>{value->get(), start_of(node->source())};
    }
    report_wrong_type(key, *node, "a string");
    return std::nullopt;
  }

  RawBool boolean(std::string_view key) {
    const toml::node* node = take(key);
    if (node == nullptr) return std::nullopt;
    if (const auto* value = node->as_boolean()) {
      return Located<bool>{value->get(), start_of(node->source())};
    }
    report_wrong_type(key, *node, "a boolean");
    return std::nullopt;
  }

  RawInteger integer(std::string_view key) {
    const toml::node* node = take(key);
    if (node == nullptr) return std::nullopt;
    if (const auto* value = node->as_integer()) {
      return Located<int64_t>{value->get(), start_of(node->source())};
    }
    report_wrong_type(key, *node, "an integer");
    return std::nullopt;
  }

  std::vector<Located<int64_t>> integer_array(std::string_view key) {
    std::vector<Located<int64_t>> values;
    const toml::node* node = take(key);
    if (node == nullptr) return values;
    const toml::array* array = node->as_array();
    if (array == nullptr) {
      report_wrong_type(key, *node, "an array of integers");
      return values;
    }
    for (const toml::node& element : *array) {
      if (const auto* value = element.as_integer()) {
        values.push_back({value->get(), start_of(element.source())});
      } else {
        report_wrong_element_type(key, element, "an integer");
      }
    }
    return values;
  }

  // A string, or an integer taken as its decimal text (port numbers and
  // ranges: `dport = 53` and `dport = "1000-2000"`).
  RawString string_or_integer(std::string_view key) {
    const toml::node* node = take(key);
    if (node == nullptr) return std::nullopt;
    if (const auto* value = node->as_string()) return Located<std::string>{value->get(), start_of(node->source())};
    if (const auto* value = node->as_integer())
      return Located<std::string>{std::to_string(value->get()), start_of(node->source())};
    report_wrong_type(key, *node, "an integer or a string");
    return std::nullopt;
  }

  std::vector<Located<std::string>> string_array(std::string_view key) {
    std::vector<Located<std::string>> values;
    const toml::node* node = take(key);
    if (node == nullptr) return values;
    const toml::array* array = node->as_array();
    if (array == nullptr) {
      report_wrong_type(key, *node, "an array of strings");
      return values;
    }
    for (const toml::node& element : *array) {
      if (const auto* value = element.as_string()) {
        values.push_back({value->get(), start_of(element.source())});
      } else {
        report_wrong_element_type(key, element, "a string");
      }
    }
    return values;
  }

  // A string or an array of strings, as one list (a string is a list of
  // one); `pos` gets where the key's value starts.
  std::vector<Located<std::string>> string_or_string_array(std::string_view key, SourcePos* pos,
                                                           bool* present) {
    const toml::node* node = table_->get(key);
    *present = node != nullptr;
    if (node == nullptr) return {};
    *pos = start_of(node->source());
    if (node->as_string()) {
      std::vector<Located<std::string>> one;
      one.push_back(*string(key));
      return one;
    }
    return string_array(key);
  }

  std::optional<TableReader> table(std::string_view key) {
    const toml::node* node = take(key);
    if (node == nullptr) return std::nullopt;
    if (const toml::table* table = node->as_table()) {
      return TableReader(*table, child_path(key), /*in_array=*/false, *errors_);
    }
    report_wrong_type(key, *node, fmt::format("a table ([{}])", child_path(key)));
    return std::nullopt;
  }

  std::vector<TableReader> table_array(std::string_view key) {
    std::vector<TableReader> tables;
    const toml::node* node = take(key);
    if (node == nullptr) return tables;
    const toml::array* array = node->as_array();
    if (array == nullptr) {
      report_wrong_type(key, *node, fmt::format("an array of tables ([[{}]])", child_path(key)));
      return tables;
    }
    for (const toml::node& element : *array) {
      if (const toml::table* table = element.as_table()) {
        tables.emplace_back(*table, child_path(key), /*in_array=*/true, *errors_);
      } else {
        report_wrong_element_type(key, element, "a table");
      }
    }
    return tables;
  }

  // Call once all known keys have been read.
  void reject_unknown_keys() const {
    for (const auto& [key, node] : *table_) {
      if (!known_keys_.contains(key.str())) {
        errors_->add(start_of(key.source()), "unknown key {:?} {}", key.str(), where());
      }
    }
  }

 private:
  const toml::node* take(std::string_view key) {
    known_keys_.emplace(key);
    return table_->get(key);
  }

  // "at top level", "in [steering]", "in [[port]]"
  std::string where() const {
    if (path_.empty()) return "at top level";
    return in_array_ ? fmt::format("in [[{}]]", path_) : fmt::format("in [{}]", path_);
  }

  std::string child_path(std::string_view key) const {
    return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
  }

  void report_wrong_type(std::string_view key, const toml::node& node, std::string_view expected) {
    errors_->add(start_of(node.source()), "key {:?} {} must be {}, not {}", key, where(), expected,
                 a_type_name(node.type()));
  }

  void report_wrong_element_type(std::string_view key, const toml::node& element,
                                 std::string_view expected) {
    errors_->add(start_of(element.source()), "element of {:?} {} must be {}, not {}", key, where(),
                 expected, a_type_name(element.type()));
  }

  // Pointers rather than references so readers can live in a vector.
  const toml::table* table_;
  std::string path_;
  bool in_array_;
  ErrorList* errors_;
  std::set<std::string, std::less<>> known_keys_;
};

// ---- one reader per section ----------------------------------------------

RawGateway read_gateway(TableReader& table) {
  RawGateway gateway{.pos = table.pos(),
                     .instance = table.string("instance"),
                     .attach_mode = table.string("attach_mode"),
                     .missed_tail_call = table.string("missed_tail_call"),
                     .netns = table.string("netns"),
                     .resync_interval_ms = table.integer("resync_interval_ms")};
  table.reject_unknown_keys();
  return gateway;
}

RawPort read_port(TableReader& table) {
  RawPort port{.pos = table.pos(), .name = table.string("name"), .inbound = table.string("inbound")};
  table.reject_unknown_keys();
  return port;
}

RawRoute read_route(TableReader& table) {
  RawRoute route{.pos = table.pos(),
                 .prefix = table.string("prefix"),
                 .via = table.string("via"),
                 .port = table.string("port")};
  table.reject_unknown_keys();
  return route;
}

RawRouting read_routing(TableReader& table) {
  RawRouting routing{.pos = table.pos(),
                     .source = table.string("source"),
                     .routes = {},
                     .resync_interval_ms = table.integer("resync_interval_ms")};
  for (TableReader& route : table.table_array("route")) routing.routes.push_back(read_route(route));
  table.reject_unknown_keys();
  return routing;
}

RawSteering read_steering(TableReader& table) {
  RawSteering steering{.pos = table.pos(),
                       .cpus = table.integer_array("cpus"),
                       .queue_size = table.integer("queue_size")};
  table.reject_unknown_keys();
  return steering;
}

RawControl read_control(TableReader& table) {
  RawControl control{.pos = table.pos(),
                     .socket = table.string("socket"),
                     .metrics = table.string("metrics"),
                     .log_level = table.string("log_level")};
  table.reject_unknown_keys();
  return control;
}

RawAnnounce read_announce(TableReader& table) {
  RawAnnounce announce{.pos = table.pos(),
                       .include = table.string("include"),
                       .bird_socket = table.string("bird_socket"),
                       .protocol = table.string("protocol"),
                       .withdraw_grace_ms = table.integer("withdraw_grace_ms")};
  table.reject_unknown_keys();
  return announce;
}

RawFlowExport read_flow_export(TableReader& table) {
  RawFlowExport fe{.pos = table.pos(),
                   .collectors = {},
                   .active_timeout_s = table.integer("active_timeout_s"),
                   .inactive_timeout_s = table.integer("inactive_timeout_s"),
                   .template_refresh_s = table.integer("template_refresh_s"),
                   .sampling = table.integer("sampling"),
                   .observation_domain_id = table.integer("observation_domain_id"),
                   .max_records_per_s = table.integer("max_records_per_s")};
  for (TableReader& c : table.table_array("collectors")) {
    fe.collectors.push_back({.pos = c.pos(),
                             .address = c.string("address"),
                             .port = c.integer("port"),
                             .format = c.string("format")});
    c.reject_unknown_keys();
  }
  table.reject_unknown_keys();
  return fe;
}

RawSnatRule read_snat_rule(TableReader& table) {
  RawSnatRule rule{.pos = table.pos(),
                   .src = table.string_array("src"),
                   .out_port = table.string("out_port"),
                   .protocol = table.string("protocol"),
                   .to = {},
                   .to_pos = {},
                   .has_to = false,
                   .ports = table.string_or_integer("ports"),
                   .when_full = table.string("when_full")};
  rule.to = table.string_or_string_array("to", &rule.to_pos, &rule.has_to);
  table.reject_unknown_keys();
  return rule;
}

RawNat read_nat(TableReader& table) {
  RawNat nat{.pos = table.pos(),
             .tcp_established_s = table.integer("tcp_established_s"),
             .tcp_transitory_s = table.integer("tcp_transitory_s"),
             .tcp_closed_s = table.integer("tcp_closed_s"),
             .udp_s = table.integer("udp_s"),
             .udp_replied_s = table.integer("udp_replied_s"),
             .icmp_s = table.integer("icmp_s"),
             .expiry_interval_ms = table.integer("expiry_interval_ms")};
  table.reject_unknown_keys();
  return nat;
}

RawPolicy read_policy(TableReader& table) {
  RawPolicy policy{.pos = table.pos(), .acl_default = table.string("acl_default")};
  table.reject_unknown_keys();
  return policy;
}

// A set file larger than this is refused before it is read: the datapath
// holds at most XDPGW_MAX_ACL_PREFIXES per trie, a few MB of text.
constexpr std::uintmax_t kMaxPrefixFileBytes = 64u << 20;

// One prefix per line; '#' or ';' starts a comment (Spamhaus' DROP list uses
// ';'), blank lines are skipped. Entries keep their line and column.
std::vector<Located<std::string>> read_prefix_file(const std::filesystem::path& path,
                                                   std::string* why) {
  std::vector<Located<std::string>> entries;
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (std::filesystem::is_directory(status)) {
    *why = "is a directory";
    return entries;
  }
  // A FIFO or a device (/dev/zero) could block a reload or never end.
  if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
    *why = "is not a regular file";
    return entries;
  }
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxPrefixFileBytes) {
    *why = fmt::format("is {} bytes, more than the {} a prefix set file may have", size,
                       kMaxPrefixFileBytes);
    return entries;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *why = fmt::format("cannot open: {}",
                       std::error_code(errno, std::generic_category()).message());
    return entries;
  }
  std::string line;
  uint32_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string_view text = line;
    text = text.substr(0, text.find_first_of("#;"));
    const std::size_t first = text.find_first_not_of(" \t\r");
    if (first == std::string_view::npos) continue;
    const std::size_t last = text.find_last_not_of(" \t\r");
    entries.push_back({std::string(text.substr(first, last - first + 1)),
                       SourcePos{number, static_cast<uint32_t>(first + 1)}});
  }
  if (in.bad()) *why = "read failed";
  return entries;
}

RawPrefixSet read_prefix_set(TableReader& table, const std::filesystem::path& base_dir,
                             ErrorList& errors) {
  RawPrefixSet set{.pos = table.pos(),
                   .name = table.string("name"),
                   .prefixes = table.string_array("prefixes"),
                   .file = table.string("file"),
                   .file_path = {},
                   .file_entries = {}};
  table.reject_unknown_keys();
  if (set.file) {
    const std::filesystem::path written = set.file->value;
    const std::filesystem::path path = written.is_absolute() ? written : base_dir / written;
    set.file_path = path.string();
    std::string why;
    set.file_entries = read_prefix_file(path, &why);
    if (!why.empty()) {
      if (written.is_absolute())
        errors.add(set.file->pos, "file {:?} {}", set.file->value, why);
      else
        errors.add(set.file->pos, "file {:?} ({}) {}", set.file->value, set.file_path, why);
      set.file_entries.clear();
    }
  }
  return set;
}

RawAclRule read_acl_rule(TableReader& table) {
  RawAclRule rule{.pos = table.pos(),
                  .name = table.string("name"),
                  .action = table.string("action"),
                  .src = table.string("src"),
                  .dst = table.string("dst"),
                  .protocol = table.string("protocol"),
                  .src_ports = table.string("src_ports"),
                  .dst_ports = table.string("dst_ports"),
                  .in_port = table.string("in_port"),
                  .state = table.string("state")};
  table.reject_unknown_keys();
  return rule;
}

RawRateClass read_rate_class(TableReader& table) {
  RawRateClass cls{.pos = table.pos(),
                   .name = table.string("name"),
                   .packets_per_second = table.integer("packets_per_second"),
                   .burst = table.integer("burst"),
                   .bytes_per_second = table.integer("bytes_per_second"),
                   .burst_bytes = table.integer("burst_bytes"),
                   .sources = table.string_array("sources")};
  table.reject_unknown_keys();
  return cls;
}

RawRateLimit read_ratelimit(TableReader& table) {
  RawRateLimit rl{.pos = table.pos(), .default_class = table.string("default_class"), .classes = {}};
  for (TableReader& cls : table.table_array("class")) rl.classes.push_back(read_rate_class(cls));
  table.reject_unknown_keys();
  return rl;
}

RawLb read_lb(TableReader& table) {
  RawLb lb{.pos = table.pos(),
           .tunnel_source_v4 = table.string("tunnel_source_v4"),
           .tunnel_source_v6 = table.string("tunnel_source_v6"),
           .conn_table_size = table.integer("conn_table_size"),
           .embryonic_table_size = table.integer("embryonic_table_size"),
           .udp_new_flows_per_prefix = table.integer("udp_new_flows_per_prefix"),
           .proxy_stop_grace_ms = table.integer("proxy_stop_grace_ms"),
           .synproxy_mss4 = table.integer("synproxy_mss4"),
           .synproxy_mss6 = table.integer("synproxy_mss6"),
           .synproxy_wscale = table.integer("synproxy_wscale")};
  table.reject_unknown_keys();
  return lb;
}

RawBackend read_backend(TableReader& table) {
  RawBackend backend{.pos = table.pos(),
                     .address = table.string("address"),
                     .port = table.integer("port"),
                     .weight = table.integer("weight")};
  table.reject_unknown_keys();
  return backend;
}

RawHealthCheck read_health_check(TableReader& table) {
  RawHealthCheck check{.pos = table.pos(),
                       .kind = table.string("kind"),
                       .port = table.integer("port"),
                       .path = table.string("path"),
                       .interval_ms = table.integer("interval_ms"),
                       .timeout_ms = table.integer("timeout_ms"),
                       .rise = table.integer("rise"),
                       .fall = table.integer("fall"),
                       .status_min = table.integer("status_min"),
                       .status_max = table.integer("status_max")};
  table.reject_unknown_keys();
  return check;
}

RawSynproxy read_synproxy(TableReader& table) {
  RawSynproxy sp{.pos = table.pos(),
                 .mode = table.string("mode"),
                 .threshold_syn_per_second = table.integer("threshold_syn_per_second")};
  table.reject_unknown_keys();
  return sp;
}

RawVip read_vip(TableReader& table) {
  RawVip vip{.pos = table.pos(),
             .name = table.string("name"),
             .address = table.string("address"),
             .protocol = table.string("protocol"),
             .port = table.integer("port"),
             .mode = table.string("mode"),
             .table_size = table.integer("table_size"),
             .syn_rate_limit = table.integer("syn_rate_limit"),
             .backends = {},
             .health_check = std::nullopt,
             .synproxy = std::nullopt,
             .proxy_protocol = table.boolean("proxy_protocol"),
             .max_connections = table.integer("max_connections"),
             .idle_timeout_ms = table.integer("idle_timeout_ms"),
             .connect_timeout_ms = table.integer("connect_timeout_ms"),
             .connect_tries = table.integer("connect_tries")};
  for (TableReader& backend : table.table_array("backend")) vip.backends.push_back(read_backend(backend));
  if (auto check = table.table("health_check")) vip.health_check = read_health_check(*check);
  if (auto sp = table.table("synproxy")) vip.synproxy = read_synproxy(*sp);
  table.reject_unknown_keys();
  return vip;
}

RawPuntRule read_punt_rule(TableReader& table) {
  RawPuntRule rule{.pos = table.pos(),
                   .protocol = table.string("protocol"),
                   .src = table.string("src"),
                   .dst = table.string("dst"),
                   .sport = table.string_or_integer("sport"),
                   .dport = table.string_or_integer("dport"),
                   .action = table.string("action"),
                   .out_port = table.string("out_port"),
                   .mode = table.string("mode"),
                   .fallback = table.string("fallback")};
  table.reject_unknown_keys();
  return rule;
}

RawPunt read_punt(TableReader& table) {
  RawPunt punt{.pos = table.pos(),
               .ports = table.string_array("ports"),
               .tap = table.string("tap"),
               .frames = table.integer("frames"),
               .batch = table.integer("batch"),
               .wait = table.string("wait"),
               .bind = table.string("bind"),
               .rules = {}};
  for (TableReader& rule : table.table_array("rule")) punt.rules.push_back(read_punt_rule(rule));
  table.reject_unknown_keys();
  return punt;
}

RawConfig read_document(const toml::table& root, std::string_view source_name,
                        ErrorList& errors) {
  TableReader document(root, /*path=*/"", /*in_array=*/false, errors);
  RawConfig raw;
  raw.source_name = source_name;
  if (auto table = document.table("gateway")) raw.gateway = read_gateway(*table);
  for (TableReader& table : document.table_array("port")) raw.ports.push_back(read_port(table));
  if (auto table = document.table("routing")) raw.routing = read_routing(*table);
  if (auto table = document.table("steering")) raw.steering = read_steering(*table);
  if (auto table = document.table("control")) raw.control = read_control(*table);
  if (auto table = document.table("policy")) raw.policy = read_policy(*table);
  const std::filesystem::path base_dir = std::filesystem::path(source_name).parent_path();
  for (TableReader& table : document.table_array("prefix_set"))
    raw.prefix_sets.push_back(read_prefix_set(table, base_dir, errors));
  for (TableReader& table : document.table_array("acl")) raw.acl.push_back(read_acl_rule(table));
  if (auto table = document.table("ratelimit")) raw.ratelimit = read_ratelimit(*table);
  if (auto table = document.table("lb")) raw.lb = read_lb(*table);
  for (TableReader& table : document.table_array("vip")) raw.vips.push_back(read_vip(table));
  if (auto table = document.table("punt")) raw.punt = read_punt(*table);
  if (auto table = document.table("announce")) raw.announce = read_announce(*table);
  if (auto table = document.table("flow_export")) raw.flow_export = read_flow_export(*table);
  for (TableReader& table : document.table_array("snat")) raw.snat.push_back(read_snat_rule(table));
  if (auto table = document.table("nat")) raw.nat = read_nat(*table);
  document.reject_unknown_keys();
  return raw;
}

Result<RawConfig> file_error(std::string file, std::string message) {
  return std::vector<ConfigError>{{std::move(file), SourcePos{}, std::move(message)}};
}

}  // namespace

Result<RawConfig> parse_string(std::string_view text, std::string_view source_name) {
  ErrorList errors{std::string(source_name)};
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& error) {
    // toml++ stops at the first syntax error, so there is only ever one.
    errors.add(start_of(error.source()), "{}", error.description());
    return std::move(errors).take_in_source_order();
  }
  RawConfig raw = read_document(root, source_name, errors);
  if (!errors.empty()) return std::move(errors).take_in_source_order();
  return raw;
}

Result<RawConfig> parse(const std::filesystem::path& path) {
  const std::string name = path.string();
  // A directory opens fine as an ifstream and then reads as empty, which
  // would surface as a confusing "missing [gateway]".
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) return file_error(name, "is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) return file_error(name, fmt::format("cannot open: {}", std::error_code(errno, std::generic_category()).message()));
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) return file_error(name, "read failed");
  return parse_string(text, name);
}

}  // namespace xdpgw::config
