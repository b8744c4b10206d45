#include "metrics/metrics_registry.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace pushbroker {
namespace {

absl::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// Escapes backslash and line feed, and for label values the double quote too,
// as the exposition format asks.
std::string Escape(absl::string_view text, bool quotes) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quotes && c == '"') {
      out += "\\\"";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::isnan(value)) return "NaN";
  if (value == std::floor(value) && std::fabs(value) < 1e15) return absl::StrFormat("%.0f", value);
  return absl::StrFormat("%.9g", value);
}

}  // namespace

void MetricsRegistry::Add(std::string name, std::string help, MetricType type, Collector collect) {
  absl::MutexLock lock(&mu_);
  families_.push_back(Family{std::move(name), std::move(help), type, std::move(collect)});
}

void MetricsRegistry::AddValue(std::string name, std::string help, MetricType type,
                               std::function<double()> value) {
  Add(std::move(name), std::move(help), type,
      [value = std::move(value)](std::vector<MetricSample>& samples) {
        samples.push_back(MetricSample{"", {}, value()});
      });
}

std::string MetricsRegistry::Render() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  std::vector<MetricSample> samples;
  for (const Family& family : families_) {
    samples.clear();
    family.collect(samples);
    absl::StrAppend(&out, "# HELP ", family.name, " ", Escape(family.help, /*quotes=*/false), "\n");
    absl::StrAppend(&out, "# TYPE ", family.name, " ", TypeName(family.type), "\n");
    for (const MetricSample& sample : samples) {
      absl::StrAppend(&out, family.name, sample.suffix);
      if (!sample.labels.empty()) {
        out.push_back('{');
        for (size_t i = 0; i < sample.labels.size(); ++i) {
          absl::StrAppend(&out, i == 0 ? "" : ",", sample.labels[i].first, "=\"",
                          Escape(sample.labels[i].second, /*quotes=*/true), "\"");
        }
        out.push_back('}');
      }
      absl::StrAppend(&out, " ", FormatValue(sample.value), "\n");
    }
  }
  return out;
}

}  // namespace pushbroker
