// A load generator and checker for `fracture serve` (cpp-httplib's client): `requests` POSTs over
// `concurrency` connections, every `bad_every`-th one malformed (cycling: bytes that are no image,
// a truncated PNG, an empty body, a multipart part with a path-like file name). Each good answer is
// compared with `fracture predict`'s JSON for the same file (predictions.json): strings, booleans
// and integers equal, other numbers within 1e-4 + 1e-5 |x| (a batch of other images changes float
// summation order); each malformed one must get its 4xx with a JSON error. Prints one JSON line:
// statuses, wrong answers, throughput, latency percentiles.
//
//   serve_client port=8080 expected=runs/predict/predict/predictions.json requests=10000 concurrency=16 bad_every=10
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using nlohmann::json;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Same answer: see the file comment. `where` names the first difference.
bool same(const json& a, const json& b, std::string& where, const std::string& at = "") {
  if (a.is_number_float() || b.is_number_float()) {
    if (!a.is_number() || !b.is_number()) return where = at, false;
    const double x = a.get<double>(), y = b.get<double>();
    return std::fabs(x - y) <= 1e-4 + 1e-5 * std::fabs(y) || (where = at + " " + a.dump() + " vs " + b.dump(), false);
  }
  if (a.type() != b.type()) return where = at + " type", false;
  if (a.is_object()) {
    if (a.size() != b.size()) return where = at + " keys", false;
    for (auto it = b.begin(); it != b.end(); ++it)
      if (!a.contains(it.key()) || !same(a.at(it.key()), it.value(), where, at + "." + it.key())) return false;
    return true;
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return where = at + " length", false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!same(a[i], b[i], where, at + "[" + std::to_string(i) + "]")) return false;
    return true;
  }
  return a == b || (where = at + " " + a.dump() + " vs " + b.dump(), false);
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p / 100.0 * double(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> kv = {{"host", "127.0.0.1"}, {"port", "8080"}, {"requests", "100"},
                                           {"concurrency", "4"},   {"bad_every", "10"}, {"expected", ""}};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    const size_t eq = a.find('=');
    if (eq == std::string::npos || !kv.count(a.substr(0, eq))) {
      std::fprintf(stderr, "serve_client: unknown argument '%s'\n", a.c_str());
      return 2;
    }
    kv[a.substr(0, eq)] = a.substr(eq + 1);
  }
  const json expected = json::parse(slurp(kv["expected"]));
  struct Good {
    std::string body;
    json want;
  };
  std::vector<Good> good;
  for (json e : expected) {
    Good g{slurp(e.at("file").get<std::string>()), e};
    g.want.erase("file");
    g.want.erase("overlay");
    good.push_back(std::move(g));
  }
  if (good.empty()) throw std::runtime_error("no expected predictions");
  const std::string truncated = good[0].body.substr(0, std::min<size_t>(good[0].body.size(), 200));
  const long n = std::stol(kv["requests"]), bad_every = std::stol(kv["bad_every"]);
  const int conc = std::stoi(kv["concurrency"]);
  std::atomic<long> next{0};
  std::mutex mu;
  std::map<int, long> statuses;
  long wrong = 0, failed = 0;
  std::string first_wrong;
  std::vector<double> lat_good;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < conc; ++c)
    threads.emplace_back([&] {
      httplib::Client cli(kv["host"], std::stoi(kv["port"]));
      cli.set_read_timeout(120, 0);
      cli.set_keep_alive(true);
      for (long i; (i = next++) < n;) {
        const bool bad = bad_every > 0 && i % bad_every == bad_every - 1;
        const auto s = std::chrono::steady_clock::now();
        httplib::Result r{nullptr, httplib::Error::Unknown};
        int want_status = 200;
        const Good& g = good[size_t(i) % good.size()];
        if (!bad) {
          r = cli.Post("/v1/predict", g.body, "application/octet-stream");
        } else {
          switch ((i / bad_every) % 4) {
            case 0: r = cli.Post("/v1/predict", std::string(512, 'x'), "application/octet-stream"); want_status = 415; break;
            case 1: r = cli.Post("/v1/predict", truncated, "image/png"); want_status = 422; break;
            case 2: r = cli.Post("/v1/predict", "", "image/png"); want_status = 400; break;
            default: {
              httplib::MultipartFormDataItems items = {{"file", g.body, "../../etc/passwd", "image/png"}};
              r = cli.Post("/v1/predict", items);
              want_status = 400;
            }
          }
        }
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count();
        std::lock_guard<std::mutex> lk(mu);
        if (!r) {
          ++failed;
          if (first_wrong.empty()) first_wrong = "request " + std::to_string(i) + ": " + httplib::to_string(r.error());
          continue;
        }
        ++statuses[r->status];
        std::string where;
        bool ok = r->status == want_status;
        if (ok) {
          try {
            json got = json::parse(r->body);
            if (!bad) {
              got.erase("file");
              ok = same(got, g.want, where);
            } else {
              ok = got.contains("error") && got.value("status", 0) == want_status;
            }
          } catch (const std::exception& e) {
            ok = false;
            where = e.what();
          }
        } else if (r->status == 503) {
          continue;  // back-pressure (queue full), counted in statuses, not an answer
        }
        if (!ok) {
          ++wrong;
          if (first_wrong.empty())
            first_wrong = "request " + std::to_string(i) + ": status " + std::to_string(r->status) + " (want " +
                          std::to_string(want_status) + ") " + where + " " + r->body.substr(0, 200);
        }
        if (!bad) lat_good.push_back(ms);
      }
    });
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  json st = json::object();
  for (const auto& [k, v] : statuses) st[std::to_string(k)] = v;
  json out = {{"requests", n},           {"concurrency", conc},
              {"statuses", st},          {"wrong", wrong},
              {"transport_failures", failed},
              {"first_wrong", first_wrong},
              {"seconds", secs},         {"requests_per_s", double(n) / secs},
              {"good_p50_ms", pct(lat_good, 50)}, {"good_p95_ms", pct(lat_good, 95)}, {"good_p99_ms", pct(lat_good, 99)}};
  std::printf("%s\n", out.dump().c_str());
  return wrong == 0 && failed == 0 ? 0 : 1;
}
