#include "metrics/metrics_registry.h"

#include <limits>

#include "gtest/gtest.h"
#include "metrics/histogram.h"

namespace pushbroker {
namespace {

TEST(MetricsRegistryTest, RendersHelpTypeAndSamples) {
  MetricsRegistry registry;
  registry.AddValue("demo_total", "Things that happened.", MetricType::kCounter,
                    [] { return 42.0; });
  registry.Add("demo_by_kind", "By kind.", MetricType::kGauge,
               [](std::vector<MetricSample>& samples) {
                 samples.push_back(MetricSample{"", {{"kind", "a"}, {"zone", "z1"}}, 1.5});
               });
  EXPECT_EQ(registry.Render(),
            "# HELP demo_total Things that happened.\n"
            "# TYPE demo_total counter\n"
            "demo_total 42\n"
            "# HELP demo_by_kind By kind.\n"
            "# TYPE demo_by_kind gauge\n"
            "demo_by_kind{kind=\"a\",zone=\"z1\"} 1.5\n");
}

TEST(MetricsRegistryTest, EscapesLabelValuesAndHelp) {
  MetricsRegistry registry;
  registry.Add("demo", "Line one\nback\\slash \"quoted\"", MetricType::kGauge,
               [](std::vector<MetricSample>& samples) {
                 samples.push_back(MetricSample{"", {{"v", "a\"b\\c\nd"}}, 0});
               });
  const std::string text = registry.Render();
  EXPECT_NE(text.find("# HELP demo Line one\\nback\\\\slash \"quoted\"\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("demo{v=\"a\\\"b\\\\c\\nd\"} 0\n"), std::string::npos) << text;
}

TEST(MetricsRegistryTest, FormatsSpecialValues) {
  MetricsRegistry registry;
  registry.AddValue("inf", "h", MetricType::kGauge,
                    [] { return std::numeric_limits<double>::infinity(); });
  registry.AddValue("big", "h", MetricType::kGauge, [] { return 123456789012.0; });
  const std::string text = registry.Render();
  EXPECT_NE(text.find("inf +Inf\n"), std::string::npos);
  EXPECT_NE(text.find("big 123456789012\n"), std::string::npos);
}

TEST(HistogramTest, CumulativeBucketsSumAndCount) {
  Histogram histogram({0.1, 1.0});
  for (double v : {0.05, 0.1, 0.5, 3.0}) histogram.Observe(v);
  std::vector<MetricSample> samples;
  histogram.Collect(samples);
  ASSERT_EQ(samples.size(), 5u);
  EXPECT_EQ(samples[0].labels[0].second, "0.1");
  EXPECT_EQ(samples[0].value, 2);  // le is inclusive
  EXPECT_EQ(samples[1].value, 3);
  EXPECT_EQ(samples[2].labels[0].second, "+Inf");
  EXPECT_EQ(samples[2].value, 4);
  EXPECT_EQ(samples[3].suffix, "_sum");
  EXPECT_DOUBLE_EQ(samples[3].value, 3.65);
  EXPECT_EQ(samples[4].suffix, "_count");
  EXPECT_EQ(samples[4].value, 4);
}

}  // namespace
}  // namespace pushbroker
