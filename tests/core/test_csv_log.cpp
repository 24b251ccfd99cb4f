// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The per-iteration CSV: header, rows, number formatting and errors.
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "rip/core/csv_log.h"
#include "testutil.h"

using riptest::contains_all;
using riptest::error_of;

namespace {

const std::vector<std::string> kMetrics = {"ssim", "ms-ssim", "psnr"};
const char* const kHeader =
    "iteration,inpainted_fraction,mask_x,mask_y,"
    "mask_width,mask_height,ssim,ms-ssim,psnr";

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Csv : public ::testing::Test {
 protected:
  riptest::TempDir dir;
  std::string path = dir.file("log.csv");
};

}  // namespace

TEST_F(Csv, HeaderIsExact) {
  { rip::CsvLog log(path, kMetrics); }
  EXPECT_EQ(read_all(path), std::string(kHeader) + "\n");
}

TEST_F(Csv, HeaderWithoutMetrics) {
  {
    rip::CsvLog log(path, {});
    rip::MeasurementRow row;
    row.iteration = 3;
    log.append(row);
  }
  EXPECT_EQ(read_lines(path),
      (std::vector<std::string>{
          "iteration,inpainted_fraction,mask_x,mask_y,mask_width,mask_height", "3,0,,,,"}));
}

TEST_F(Csv, RowsWithAndWithoutMask) {
  rip::CsvLog log(path, kMetrics);
  rip::MeasurementRow first;
  first.iteration = 0;
  first.inpainted_fraction = 0;
  first.values = {1.0, 1.0, std::numeric_limits<double>::infinity()};
  log.append(first);
  rip::MeasurementRow second;
  second.iteration = 12345678901ull;
  second.inpainted_fraction = 0.0625;
  second.mask = rip::Rect{128, 384, 128, 64};
  second.values = {0.91234567891234, 0.5, 31.25};
  log.append(second);
  // Each row is flushed as it is written: readable while the log is open.
  auto lines = read_lines(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], kHeader);
  EXPECT_EQ(lines[1], "0,0,,,,,1,1,inf");
  EXPECT_EQ(lines[2], "12345678901,0.0625,128,384,128,64,0.9123456789,0.5,31.25");
  // Four empty mask fields: the column count matches the header.
  EXPECT_EQ(std::count(lines[1].begin(), lines[1].end(), ','),
      std::count(lines[0].begin(), lines[0].end(), ','));
}

TEST(CsvFormat, Values) {
  EXPECT_EQ(rip::CsvLog::format_value(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(rip::CsvLog::format_value(-std::numeric_limits<double>::infinity()), "-inf");
  EXPECT_EQ(rip::CsvLog::format_value(std::nan("")), "nan");
  EXPECT_EQ(rip::CsvLog::format_value(-std::nan("")), "nan");
  EXPECT_EQ(rip::CsvLog::format_value(0.0), "0");
  EXPECT_EQ(rip::CsvLog::format_value(0.1), "0.1");
  EXPECT_EQ(rip::CsvLog::format_value(-0.25), "-0.25");
  EXPECT_EQ(rip::CsvLog::format_value(1.0 / 3.0), "0.3333333333");
  EXPECT_EQ(rip::CsvLog::format_value(1e-20), "1e-20");
  EXPECT_EQ(rip::CsvLog::format_value(48.13080360867910), "48.13080361");
  // Ten significant digits survive a round trip.
  const double v = 0.98765432109876;
  EXPECT_NEAR(std::stod(rip::CsvLog::format_value(v)), v, 1e-10);
}

TEST_F(Csv, NanInARow) {
  {
    rip::CsvLog log(path, {"ssim"});
    rip::MeasurementRow row;
    row.iteration = 1;
    row.inpainted_fraction = 1;
    row.mask = rip::Rect{0, 0, 512, 512};
    row.values = {std::nan("")};
    log.append(row);
  }
  EXPECT_EQ(read_lines(path).back(), "1,1,0,0,512,512,nan");
}

TEST_F(Csv, WrongValueCountThrows) {
  rip::CsvLog log(path, kMetrics);
  rip::MeasurementRow row;
  row.values = {0.5, 0.5};
  EXPECT_TRUE(contains_all(error_of([&] { log.append(row); }), {"2 values", "3 metric columns"}));
  row.values = {0.5, 0.5, 0.5, 0.5};
  error_of([&] { log.append(row); });
  // Nothing half-written.
  EXPECT_EQ(read_lines(path).size(), 1u);
}

TEST_F(Csv, TruncatesAnExistingFile) {
  riptest::write_bytes(path, "old,content\n1,2\n3,4\n");
  { rip::CsvLog log(path, {"psnr"}); }
  EXPECT_EQ(read_lines(path),
      (std::vector<std::string>{"iteration,inpainted_fraction,mask_x,mask_y,mask_width,mask_height,"
                                "psnr"}));
}

TEST_F(Csv, UnwritablePathThrowsNamingIt) {
  std::string bad = dir.file("no-such-folder/log.csv");
  EXPECT_TRUE(
      contains_all(error_of([&] { rip::CsvLog log(bad, kMetrics); }), {bad, "cannot write"}));
  // A folder is not a file either.
  EXPECT_TRUE(contains_all(error_of([&] { rip::CsvLog log(dir.path(), kMetrics); }), {dir.path()}));
}
