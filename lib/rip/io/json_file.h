// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Reading the config.json files of a diffusers model folder.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rip::io {

// Parses a JSON file; rip::Error names the file on a missing file or a
// syntax error (with the line and column).
nlohmann::json read_json(const std::filesystem::path& path);

// Typed access with defaults and errors that name the file, the key, the type
// expected and the value found. A key that is absent or null gives the
// fallback (diffusers writes null for "use the default"); a key of the wrong
// type is an error, never silently the fallback.
struct ConfigReader {
  std::filesystem::path path;
  nlohmann::json json;

  static ConfigReader open(const std::filesystem::path& path);
  bool has(const std::string& key) const;  // present and not null
  int get_int(const std::string& key, int fallback) const;
  int require_int(const std::string& key) const;
  double get_double(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  // An int or a list of ints (diffusers allows both, e.g. attention_head_dim).
  // An int gives expected_len copies of it; a list must have expected_len
  // entries. expected_len 0: any length (an int then gives one entry).
  std::vector<int> get_int_list(
      const std::string& key, size_t expected_len, const std::vector<int>& fallback) const;
  std::vector<std::string> get_string_list(
      const std::string& key, const std::vector<std::string>& fallback) const;
  // A list of numbers (e.g. a scheduler's trained_betas).
  std::vector<double> get_double_list(
      const std::string& key, const std::vector<double>& fallback) const;
};

}  // namespace rip::io
