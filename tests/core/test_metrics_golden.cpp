// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Parity of our SSIM / MS-SSIM / PSNR with reference implementations:
//  - pytorch_msssim on the images in tests/data/metrics (goldens.tsv, made
//    by tests/data/metrics/make_goldens.py, which records the commit);
//  - the published Wang-SSIM values of the LPIPS example pair, when the
//    shared data folder has it.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "rip/io/image.h"
#include "rip/core/metrics.h"
#include "testutil.h"

namespace {

struct GoldenRow {
  std::string file_a, file_b;
  double ssim = 0, ms_ssim = 0, psnr = 0;
};

std::string metrics_dir() {
  return riptest::test_data_dir() + "/metrics";
}

std::vector<GoldenRow> read_goldens() {
  const std::string path = metrics_dir() + "/goldens.tsv";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::vector<GoldenRow> rows;
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (header) {  // file_a file_b ssim ms_ssim psnr
      EXPECT_EQ(line, "file_a\tfile_b\tssim\tms_ssim\tpsnr");
      header = false;
      continue;
    }
    std::istringstream fields(line);
    GoldenRow r;
    std::string ssim, ms_ssim, psnr;
    std::getline(fields, r.file_a, '\t');
    std::getline(fields, r.file_b, '\t');
    std::getline(fields, ssim, '\t');
    std::getline(fields, ms_ssim, '\t');
    std::getline(fields, psnr, '\t');
    r.ssim = std::stod(ssim);
    r.ms_ssim = std::stod(ms_ssim);
    r.psnr = std::stod(psnr);
    rows.push_back(r);
  }
  return rows;
}

// Both sides compute in double from the same 8-bit pixels with the same
// algorithm; what is left is summation order (OpenCV's separable filter
// with a border we crop, vs torch's 'valid' conv2d) and the last-ulp
// differences of exp/pow. Observed agreement is <1e-14 on values in
// [-1, 1]; 1e-10 leaves room for other BLAS/SIMD paths while still
// catching any real change of formula: a float32 Gaussian window alone
// moves SSIM by up to 1e-5, and edge-replicating instead of zero-padding
// the odd-size pooling moves MS-SSIM of the 200x168 pair by 1.4e-5.
constexpr double kSsimTolerance = 1e-10;
// PSNR: log10 of an exact integer sum; only the last ulp can differ.
constexpr double kPsnrTolerance = 1e-10;

}  // namespace

TEST(MetricsGolden, MatchesPytorchMsssim) {
  const auto rows = read_goldens();
  ASSERT_GE(rows.size(), 5u) << "goldens.tsv has too few rows";
  bool saw_odd_scale = false;
  for (const auto& r : rows) {
    SCOPED_TRACE(r.file_a + " vs " + r.file_b);
    cv::Mat a = rip::io::load_rgb_image(metrics_dir() + "/" + r.file_a);
    cv::Mat b = rip::io::load_rgb_image(metrics_dir() + "/" + r.file_b);
    ASSERT_EQ(a.size(), b.size());
    // Some pair must become odd-sized at a coarser scale so the pooling's
    // padding path is checked (200x168: 25x21 at the fourth scale).
    for (int side : {a.cols, a.rows})
      for (int scale = 0, s = side; scale < 4; scale++, s = (s + s % 2) / 2)
        if (s % 2) saw_odd_scale = true;
    EXPECT_NEAR(rip::ssim(a, b), r.ssim, kSsimTolerance);
    EXPECT_NEAR(rip::ms_ssim(a, b), r.ms_ssim, kSsimTolerance);
    EXPECT_NEAR(rip::psnr(a, b), r.psnr, kPsnrTolerance);
  }
  EXPECT_TRUE(saw_odd_scale) << "no golden pair exercises the odd-size pooling";
}

// The LPIPS repository's example pair (PerceptualSimilarity/imgs): the
// study quotes these Wang-SSIM values (mean over RGB, Gaussian 11/1.5,
// 'valid'), to 6 decimals, so the tolerance is half a unit of the last
// printed digit plus margin.
TEST(MetricsGolden, LpipsExamplePairPublishedSsim) {
  const std::string dir = riptest::shared_dir() + "/data/lpips/imgs";
  const std::string ref = dir + "/ex_ref.png", p0 = dir + "/ex_p0.png", p1 = dir + "/ex_p1.png";
  for (const auto& f : {ref, p0, p1})
    if (!std::filesystem::exists(f))
      GTEST_SKIP() << "shared data missing: " << f
                   << " (set RIP_SHARED_DIR to the shared/ folder that has "
                      "data/lpips/imgs/ex_ref.png, ex_p0.png, ex_p1.png)";
  cv::Mat r = rip::io::load_rgb_image(ref);
  EXPECT_NEAR(rip::ssim(r, rip::io::load_rgb_image(p0)), 0.436746, 5e-6);
  EXPECT_NEAR(rip::ssim(r, rip::io::load_rgb_image(p1)), 0.295903, 5e-6);
}
