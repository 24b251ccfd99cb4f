// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/io/json_file.h"

#include <fstream>
#include <limits>
#include <sstream>

#include "rip/error.h"

namespace rip::io {

namespace {

using nlohmann::json;

std::string short_dump(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

// nlohmann's message without its "[json.exception.parse_error.101] " tag;
// the rest says where (line and column) and what was expected.
std::string parse_message(const json::exception& e) {
  const std::string what = e.what();
  const size_t tag_end = what.rfind("] ", what.find(' '));
  return tag_end == std::string::npos ? what : what.substr(tag_end + 2);
}

const char* type_name(const json& value) {
  if (value.is_number_integer()) return "an integer";
  if (value.is_number()) return "a number";
  if (value.is_boolean()) return "true/false";
  if (value.is_string()) return "a string";
  if (value.is_array()) return "a list";
  if (value.is_object()) return "an object";
  return "null";
}

}  // namespace

json read_json(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw rip::Error("'" + path.string() +
        "' does not exist: the model folder is incomplete "
        "(download the whole folder, configs included)");
  }
  if (std::filesystem::is_directory(path, ec)) {
    throw rip::Error("'" + path.string() + "' is a folder, not a JSON file");
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (!in) throw rip::Error("cannot read '" + path.string() + "'");
  const std::string text = buffer.str();
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw rip::Error("'" + path.string() + "' is not valid JSON: " + parse_message(e));
  }
}

ConfigReader ConfigReader::open(const std::filesystem::path& path) {
  ConfigReader reader{path, read_json(path)};
  if (!reader.json.is_object()) {
    throw rip::Error("'" + path.string() + "' holds " + type_name(reader.json) +
        ", not the JSON object of a config");
  }
  return reader;
}

bool ConfigReader::has(const std::string& key) const {
  auto it = json.find(key);
  return it != json.end() && !it->is_null();
}

namespace {

[[noreturn]] void wrong_type(
    const ConfigReader& r, const std::string& key, const std::string& expected, const json& found) {
  throw rip::Error("'" + r.path.string() + "': \"" + key + "\" must be " + expected +
      ", but it is " + short_dump(found) + " (" + type_name(found) + ")");
}

int to_int(
    const ConfigReader& r, const std::string& key, const json& value, const std::string& expected) {
  if (!value.is_number_integer()) wrong_type(r, key, expected, value);
  if (value.is_number_unsigned() ? value.get<uint64_t>() > uint64_t(std::numeric_limits<int>::max())
                                 : (value.get<int64_t>() < std::numeric_limits<int>::min() ||
                                       value.get<int64_t>() > std::numeric_limits<int>::max())) {
    wrong_type(r, key, expected + " that fits in 32 bits", value);
  }
  return int(value.get<int64_t>());
}

}  // namespace

int ConfigReader::get_int(const std::string& key, int fallback) const {
  return has(key) ? to_int(*this, key, json.at(key), "an integer") : fallback;
}

int ConfigReader::require_int(const std::string& key) const {
  if (!has(key)) {
    throw rip::Error("'" + path.string() + "' has no \"" + key +
        "\" (an integer), which this model needs: is it the config of the right model?");
  }
  return get_int(key, 0);
}

double ConfigReader::get_double(const std::string& key, double fallback) const {
  if (!has(key)) return fallback;
  const auto& value = json.at(key);
  if (!value.is_number()) wrong_type(*this, key, "a number", value);
  return value.get<double>();
}

bool ConfigReader::get_bool(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& value = json.at(key);
  if (!value.is_boolean()) wrong_type(*this, key, "true or false", value);
  return value.get<bool>();
}

std::string ConfigReader::get_string(const std::string& key, const std::string& fallback) const {
  if (!has(key)) return fallback;
  const auto& value = json.at(key);
  if (!value.is_string()) wrong_type(*this, key, "a string", value);
  return value.get<std::string>();
}

std::vector<int> ConfigReader::get_int_list(
    const std::string& key, size_t expected_len, const std::vector<int>& fallback) const {
  if (!has(key)) return fallback;
  const auto& value = json.at(key);
  const std::string expected = expected_len
      ? "an integer or a list of " + std::to_string(expected_len) + " integers"
      : std::string("an integer or a list of integers");
  if (value.is_number_integer()) {
    return std::vector<int>(expected_len ? expected_len : 1, to_int(*this, key, value, expected));
  }
  if (!value.is_array() || (expected_len && value.size() != expected_len)) {
    wrong_type(*this, key, expected, value);
  }
  std::vector<int> out;
  for (const auto& item : value) out.push_back(to_int(*this, key, item, expected));
  return out;
}

std::vector<std::string> ConfigReader::get_string_list(
    const std::string& key, const std::vector<std::string>& fallback) const {
  if (!has(key)) return fallback;
  const auto& value = json.at(key);
  if (!value.is_array()) wrong_type(*this, key, "a list of strings", value);
  std::vector<std::string> out;
  for (const auto& item : value) {
    if (!item.is_string()) wrong_type(*this, key, "a list of strings", value);
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::vector<double> ConfigReader::get_double_list(
    const std::string& key, const std::vector<double>& fallback) const {
  if (!has(key)) return fallback;
  const auto& value = json.at(key);
  if (!value.is_array()) wrong_type(*this, key, "a list of numbers", value);
  std::vector<double> out;
  for (const auto& item : value) {
    if (!item.is_number()) wrong_type(*this, key, "a list of numbers", value);
    out.push_back(item.get<double>());
  }
  return out;
}

}  // namespace rip::io
