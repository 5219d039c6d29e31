// core/progress.h: the ETA arithmetic, the duration format, and the bar's text.
#include <gtest/gtest.h>

#include <cmath>

#include "fracture/core/progress.h"

using namespace fracture;

TEST(Progress, EtaIsTheMeanPaceTimesWhatIsLeft) {
  EXPECT_DOUBLE_EQ(eta_seconds(3, 12, 30.0), 90.0);
  EXPECT_DOUBLE_EQ(eta_seconds(12, 12, 30.0), 0.0);
  EXPECT_DOUBLE_EQ(eta_seconds(13, 12, 30.0), 0.0);  // past the end (more steps than planned)
  EXPECT_TRUE(std::isnan(eta_seconds(0, 12, 5.0)));
  EXPECT_EQ(format_duration(45.4), "45s");
  EXPECT_EQ(format_duration(125), "2m05s");
  EXPECT_EQ(format_duration(3840), "1h04m");
  EXPECT_EQ(format_duration(std::nan("")), "?");
  EXPECT_EQ(format_duration(-1), "?");
}

TEST(Progress, LineShowsCountBarTimesAndMetric) {
  Progress bar("epoch 3/12", 40, /*draw=*/false);
  for (int i = 0; i < 10; ++i) bar.step();
  const std::string l = bar.line("loss 0.412");
  EXPECT_EQ(l.rfind("epoch 3/12 10/40 [#####...............] ", 0), 0u) << l;
  EXPECT_NE(l.find("<"), std::string::npos) << l;
  EXPECT_EQ(l.substr(l.size() - 10), "loss 0.412") << l;
  Progress count("scan", 0, false);
  count.step("", 7);
  EXPECT_EQ(count.line("").rfind("scan 7 ", 0), 0u) << count.line("");
}
