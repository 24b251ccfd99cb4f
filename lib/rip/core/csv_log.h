// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The per-iteration CSV that lpipsmeter writes: one header, one row per
// frame, each row flushed as it is written so a killed run keeps every row
// it measured.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "rip/core/mask.h"

namespace rip {

struct MeasurementRow {
  uint64_t iteration = 0;
  double inpainted_fraction = 0;
  std::optional<Rect> mask;    // absent on frames that were not inpainted
  std::vector<double> values;  // one per metric column, in header order
};

class CsvLog {
 public:
  // Creates (or truncates) path and writes the header
  // iteration,inpainted_fraction,mask_x,mask_y,mask_width,mask_height,<metrics>.
  CsvLog(const std::string& path, const std::vector<std::string>& metrics);
  ~CsvLog();
  CsvLog(const CsvLog&) = delete;
  CsvLog& operator=(const CsvLog&) = delete;

  void append(const MeasurementRow& row);

  static std::string format_value(double v);

 private:
  std::string path_;
  size_t columns_;
  FILE* file_ = nullptr;
};

}  // namespace rip
