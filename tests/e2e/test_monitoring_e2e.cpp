// The shipped monitoring against a real Prometheus: Debian's prometheus
// scrapes a running xdpgw (in the gateway's namespace, every second) with
// dist/prometheus/xdpgw-alerts.yml loaded, while traffic crosses the
// gateway. Every query of dist/grafana/xdpgw.json, and every series selector
// of every alert expression, is evaluated by that Prometheus and returns
// series; every alert expression evaluates without error. The config turns
// on everything the dashboard shows: a load-balanced VIP, ACL rules, a
// rate-limit class and an AF_XDP punt rule.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "e2e/gateway_daemon.hpp"
#include "e2e/router_topology.hpp"
#include "harness/child_process.hpp"
#include "harness/names.hpp"
#include "harness/run.hpp"

namespace xdpgw::test::e2e {
namespace {

using namespace std::chrono_literals;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Prometheus in the gateway's namespace (its 127.0.0.1 is where xdpgw's
// metrics listen), with a scratch TSDB removed on destruction.
class Prometheus {
 public:
  Prometheus(const Netns& ns, const std::filesystem::path& rules)
      : ns_(ns), dir_(std::filesystem::temp_directory_path() / unique_name("prom")) {
    std::filesystem::create_directories(dir_ / "data");
    std::ofstream(dir_ / "prometheus.yml") << fmt::format(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "rule_files:\n  - {}\n"
        "scrape_configs:\n  - job_name: xdpgw\n    static_configs:\n"
        "      - targets: [\"127.0.0.1:10170\"]\n",
        rules.string());
    process_.emplace(std::vector<std::string>{"/usr/bin/nsenter", "--net=/run/netns/" + ns.name(),
                                              "/usr/bin/prometheus",
                                              "--config.file=" + (dir_ / "prometheus.yml").string(),
                                              "--storage.tsdb.path=" + (dir_ / "data").string(),
                                              "--web.listen-address=127.0.0.1:9090"},
                     dir_ / "prometheus.log");
  }
  ~Prometheus() {
    process_.reset();  // SIGTERM, bounded wait
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  Prometheus(const Prometheus&) = delete;
  Prometheus& operator=(const Prometheus&) = delete;

  // /api/v1/query: the "data" object, or null (with a test failure naming
  // the query, unless `starting`: Prometheus answers 503 until its storage
  // is up) when Prometheus could not be asked or refused the query.
  nlohmann::json query(const std::string& promql, bool starting = false) const {
    EXPECT_EQ(promql.find('\''), std::string::npos) << "quote in query: " << promql;
    auto r = ns_.exec(fmt::format(
        "curl -sS -G --data-urlencode 'query={}' http://127.0.0.1:9090/api/v1/query", promql));
    if (!r.ok()) return nullptr;
    auto reply = nlohmann::json::parse(r.output, nullptr, /*allow_exceptions=*/false);
    if (reply.is_discarded() || reply.value("status", "") != "success") {
      if (!starting) ADD_FAILURE() << promql << ": " << r.output;
      return nullptr;
    }
    return reply["data"];
  }

  // Series a query returns now (0 for none, or on failure).
  size_t series(const std::string& promql, bool starting = false) const {
    auto data = query(promql, starting);
    return data.is_null() ? 0 : data["result"].size();
  }

  std::string log() const { return read_file(dir_ / "prometheus.log"); }

 private:
  const Netns& ns_;
  std::filesystem::path dir_;
  std::optional<ChildProcess> process_;
};

// The Grafana variables, as a dashboard viewing every instance expands them.
std::string expand(std::string expr) {
  for (auto [var, value] : {std::pair{"$__rate_interval", "10s"}, std::pair{"$instance", ".*"}})
    for (size_t at; (at = expr.find(var)) != std::string::npos;)
      expr.replace(at, std::string_view(var).size(), value);
  return expr;
}

// Every series selector of a PromQL expression (metric name with its
// matchers), e.g. `xdpgw_packets_total{outcome="drop"}`.
std::set<std::string> selectors(const std::string& expr) {
  static const std::regex selector(R"(\b(up|xdpgw_[a-z0-9_]+)(\{[^}]*\})?)");
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(expr.begin(), expr.end(), selector);
       it != std::sregex_iterator(); ++it)
    out.insert(it->str());
  return out;
}

TEST(MonitoringE2e, PrometheusEvaluatesEveryDashboardQueryAndAlertExpression) {
  RouterTopology topo{{.ipv6 = false, .static_neighbours = true}};
  const std::string& port_a = topo.gateway_port_a().name;
  const std::string& port_b = topo.gateway_port_b().name;
  GatewayConfig config{.ports = {port_a, port_b}, .route_source = RouteSource::kStatic};
  config.routes = {{std::string(kSubnetA4), std::string(kHostA4), port_a},
                   {std::string(kSubnetB4), std::string(kHostB4), port_b}};
  config.extra_toml = fmt::format(R"(
[policy]
acl_default = "allow"

[[acl]]
action = "deny"
protocol = "tcp"
dst_ports = "23"

[ratelimit]
default_class = "everyone"

[[ratelimit.class]]
name = "everyone"
packets_per_second = 100000
burst = 10000

[[vip]]
name = "web"
address = "198.18.100.1"
protocol = "tcp"
port = 80
mode = "nat"
  [[vip.backend]]
  address = "{}"
  port = 8080

[punt]
tap = "{}"
frames = 1024

[[punt.rule]]
protocol = "udp"
dst = "{}"
dport = 5000
action = "forward"
out_port = "{}"
)",
                                  kHostB4, unique_ifname("t"), kSubnetB4, port_b);
  GatewayDaemon daemon(topo.gateway(), config);
  TempDir scratch;

  const std::filesystem::path dist = std::filesystem::path(XDPGW_SOURCE_DIR) / "dist";
  Prometheus prometheus(topo.gateway(), dist / "prometheus" / "xdpgw-alerts.yml");
  // Traffic through the gateway for the whole test: forwarded pings.
  ChildProcess ping({"/usr/bin/nsenter", "--net=/run/netns/" + topo.host_a().name(), "/usr/bin/ping",
                     "-i", "0.1", std::string(kHostB4)},
                    scratch.path() / "ping.log");

  // Until Prometheus has scraped often enough for a 10 s rate of the
  // forwarded pings (bounded: a Prometheus that never gets there fails).
  const auto deadline = std::chrono::steady_clock::now() + 90s;
  const std::string ready =
      R"(sum(rate(xdpgw_packets_total{reason="fwd_redirect"}[10s])) > 0)";
  while (prometheus.series(ready, /*starting=*/true) == 0) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "Prometheus never saw forwarded packets.\nprometheus log:\n"
        << prometheus.log() << "\ndaemon log:\n"
        << daemon.log();
    std::this_thread::sleep_for(500ms);
  }
  ASSERT_EQ(prometheus.series(R"(up{job="xdpgw"} == 1)"), 1u);

  // The dashboard: every query returns series.
  const auto dashboard = nlohmann::json::parse(read_file(dist / "grafana" / "xdpgw.json"));
  size_t queries = 0;
  for (const auto& panel : dashboard["panels"]) {
    for (const auto& target : panel.value("targets", nlohmann::json::array())) {
      const std::string expr = expand(target["expr"].get<std::string>());
      ++queries;
      EXPECT_GT(prometheus.series(expr), 0u)
          << "panel \"" << panel["title"].get<std::string>() << "\": " << expr;
    }
  }
  EXPECT_GT(queries, 20u);

  // The alert rules: loaded by this Prometheus, every expression evaluates,
  // and every selector in it finds series (a misspelt metric or label value
  // would make the alert silently never fire).
  const auto rules_api = topo.gateway().exec("curl -sS http://127.0.0.1:9090/api/v1/rules");
  ASSERT_TRUE(rules_api.ok()) << rules_api.output;
  const auto groups = nlohmann::json::parse(rules_api.output)["data"]["groups"];
  ASSERT_EQ(groups.size(), 1u) << rules_api.output;
  size_t alerts = 0;
  for (const auto& rule : groups[0]["rules"]) {
    ++alerts;
    const std::string expr = rule["query"].get<std::string>();
    EXPECT_EQ(rule.value("health", ""), "ok") << rule["name"] << ": " << rule.dump();
    EXPECT_FALSE(prometheus.query(expr).is_null()) << rule["name"];
    for (const auto& sel : selectors(expr))
      EXPECT_GT(prometheus.series(sel), 0u) << "alert " << rule["name"] << ": " << sel;
  }
  // Every alert of the file was loaded (a rule Prometheus refuses is left
  // out of the API, not reported).
  const std::string rules_file = read_file(dist / "prometheus" / "xdpgw-alerts.yml");
  size_t in_file = 0;
  for (size_t at = 0; (at = rules_file.find("- alert: ", at)) != std::string::npos; ++at) ++in_file;
  EXPECT_GE(in_file, 9u) << "too few alerts found in the file: is the count wrong?";
  EXPECT_EQ(alerts, in_file);
}

}  // namespace
}  // namespace xdpgw::test::e2e
