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

// Escapes a label value: backslash, double quote and line feed.
std::string EscapeLabel(absl::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Escapes help text: backslash and line feed.
std::string EscapeHelp(absl::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
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
    absl::StrAppend(&out, "# HELP ", family.name, " ", EscapeHelp(family.help), "\n");
    absl::StrAppend(&out, "# TYPE ", family.name, " ", TypeName(family.type), "\n");
    for (const MetricSample& sample : samples) {
      absl::StrAppend(&out, family.name, sample.suffix);
      if (!sample.labels.empty()) {
        out.push_back('{');
        for (size_t i = 0; i < sample.labels.size(); ++i) {
          absl::StrAppend(&out, i == 0 ? "" : ",", sample.labels[i].first, "=\"",
                          EscapeLabel(sample.labels[i].second), "\"");
        }
        out.push_back('}');
      }
      absl::StrAppend(&out, " ", FormatValue(sample.value), "\n");
    }
  }
  return out;
}

}  // namespace pushbroker
