// SPDX-License-Identifier: LGPL-2.1-or-later
//
// read_json / ConfigReader: values from a real diffusers config, and errors
// that name the file, the key, the type expected and the value found.
#include <gtest/gtest.h>

#include "rip/io/json_file.h"
#include "testutil.h"

namespace rip::sd::test {
namespace {

using io::ConfigReader;
using io::read_json;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(JsonFile, ReadsTheTinyUNetConfig) {
  const auto path = sd_data() / "tiny-sd2" / "unet" / "config.json";
  const auto c = ConfigReader::open(path);
  EXPECT_EQ(c.get_string("_class_name", ""), "UNet2DConditionModel");
  EXPECT_EQ(c.require_int("in_channels"), 9);
  EXPECT_EQ(c.get_int("cross_attention_dim", 0), 32);
  EXPECT_EQ(c.get_int_list("attention_head_dim", 4, {}), (std::vector<int>{2, 2, 4, 4}));
  EXPECT_EQ(c.get_int_list("block_out_channels", 4, {}), (std::vector<int>{32, 32, 64, 64}));
  EXPECT_EQ(c.get_int_list("transformer_layers_per_block", 4, {}), (std::vector<int>{1, 1, 1, 1}));
  EXPECT_EQ(c.get_string_list("up_block_types", {}).at(1), "CrossAttnUpBlock2D");
  EXPECT_DOUBLE_EQ(c.get_double("norm_eps", 0), 1e-5);
  EXPECT_DOUBLE_EQ(c.get_double("mid_block_scale_factor", 0), 1.0);  // stored as the int 1
  EXPECT_TRUE(c.get_bool("use_linear_projection", false));
  EXPECT_FALSE(c.get_bool("upcast_attention", true));
  // null means "use the default", like an absent key.
  EXPECT_FALSE(c.has("num_attention_heads"));
  EXPECT_EQ(c.get_int("num_attention_heads", -1), -1);
  EXPECT_EQ(c.get_string("absent", "dflt"), "dflt");
  EXPECT_EQ(c.path, path);
}

TEST(JsonFile, TypeErrorsNameFileKeyAndType) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_text(path, R"({"s": "x", "i": 4, "f": 0.5, "b": true, "big": 4294967296,
      "l": [1, 2, 3], "mixed": [1, "a"], "strs": ["a", 1]})");
  const auto c = ConfigReader::open(path);
  const std::string msg = error_of([&] { c.get_int("s", 0); });
  EXPECT_TRUE(contains(msg, path.string())) << msg;
  EXPECT_TRUE(contains(msg, "\"s\" must be an integer, but it is \"x\" (a string)")) << msg;
  EXPECT_TRUE(contains(error_of([&] { c.get_int("f", 0); }), "(a number)"));
  EXPECT_TRUE(contains(error_of([&] { c.get_int("big", 0); }), "fits in 32 bits"));
  EXPECT_TRUE(contains(error_of([&] { c.get_double("s", 0); }), "must be a number"));
  EXPECT_TRUE(contains(error_of([&] { c.get_bool("i", false); }), "must be true or false"));
  EXPECT_TRUE(contains(error_of([&] { c.get_string("b", ""); }), "must be a string"));
  EXPECT_TRUE(contains(error_of([&] { c.get_int_list("l", 4, {}); }), "a list of 4 integers"));
  EXPECT_TRUE(contains(error_of([&] { c.get_int_list("mixed", 0, {}); }), "\"mixed\""));
  EXPECT_TRUE(contains(error_of([&] { c.get_string_list("strs", {}); }), "a list of strings"));
  EXPECT_TRUE(contains(error_of([&] { c.get_double_list("strs", {}); }), "a list of numbers"));
  EXPECT_TRUE(contains(error_of([&] { c.require_int("absent"); }), "has no \"absent\""));
  EXPECT_EQ(c.get_int_list("i", 3, {}), (std::vector<int>{4, 4, 4}));
  EXPECT_EQ(c.get_int_list("i", 0, {}), (std::vector<int>{4}));
  EXPECT_EQ(c.get_int_list("l", 0, {}), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(c.get_double_list("l", {}), (std::vector<double>{1, 2, 3}));
  EXPECT_DOUBLE_EQ(c.get_double("f", 0), 0.5);
}

TEST(JsonFile, FileErrors) {
  TempDir dir;
  EXPECT_TRUE(
      contains(error_of([&] { read_json(dir / "nope.json"); }), "nope.json' does not exist"));
  EXPECT_TRUE(contains(error_of([&] { read_json(dir.path()); }), "is a folder"));
  write_text(dir / "bad.json", "{\n  \"a\": 1,\n  \"b\": ,\n}\n");
  const std::string msg = error_of([&] { read_json(dir / "bad.json"); });
  EXPECT_TRUE(contains(msg, "bad.json' is not valid JSON")) << msg;
  EXPECT_TRUE(contains(msg, "line 3")) << msg;
  write_text(dir / "list.json", "[1, 2]");
  EXPECT_TRUE(contains(error_of([&] { ConfigReader::open(dir / "list.json"); }),
      "holds a list, not the JSON object of a config"));
  EXPECT_EQ(read_json(dir / "list.json").size(), 2u);
}

}  // namespace
}  // namespace rip::sd::test
