// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/core/csv_log.h"

#include <cerrno>
#include <cmath>
#include <cstring>

#include "rip/error.h"

namespace rip {

CsvLog::CsvLog(const std::string& path, const std::vector<std::string>& metrics)
    : path_(path), columns_(metrics.size()) {
  file_ = std::fopen(path.c_str(), "w");
  if (!file_)
    throw Error("cannot write the CSV file '" + path + "': " + std::strerror(errno) +
        " (check the folder exists and is writable)");
  std::string header = "iteration,inpainted_fraction,mask_x,mask_y,mask_width,mask_height";
  for (const auto& m : metrics) header += "," + m;
  std::fprintf(file_, "%s\n", header.c_str());
  std::fflush(file_);
}

CsvLog::~CsvLog() {
  if (file_) std::fclose(file_);
}

std::string CsvLog::format_value(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

void CsvLog::append(const MeasurementRow& row) {
  if (row.values.size() != columns_)
    throw Error("internal: CSV row has " + std::to_string(row.values.size()) + " values for " +
        std::to_string(columns_) + " metric columns");
  std::string line = std::to_string(row.iteration) + "," + format_value(row.inpainted_fraction);
  if (row.mask)
    line += "," + std::to_string(row.mask->x) + "," + std::to_string(row.mask->y) + "," +
        std::to_string(row.mask->width) + "," + std::to_string(row.mask->height);
  else
    line += ",,,,";
  for (double v : row.values) line += "," + format_value(v);
  line += "\n";
  // One write per row and a flush: a reader (or a crash) never sees half a
  // row followed by the next one.
  if (std::fputs(line.c_str(), file_) < 0 || std::fflush(file_) != 0)
    throw Error("writing the CSV file '" + path_ + "' failed: " + std::strerror(errno));
}

}  // namespace rip
