// SPDX-License-Identifier: LGPL-2.1-or-later
//
// rip-lpips as users run it: the reference's distance for files they bring,
// the list mode, the map file and the errors.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <opencv2/imgcodecs.hpp>

#include "testutil.h"

using lpipstest::contains_all;

namespace {

struct CliRun {
  int status;
  std::string out;  // stdout and stderr
};

std::string cli() {
  const char* root = std::getenv("RIP_BUILD_ROOT");
  return std::string(root ? root : ".") + "/tools/rip-lpips";
}

CliRun run(const std::string& args) {
  const std::string cmd = cli() + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  CliRun r{-1, ""};
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string q(const std::string& s) {
  return "'" + s + "'";
}

double golden(const std::string& net, const std::string& img0, const std::string& img1) {
  for (const auto& c : lpipstest::goldens()["cases"])
    if (c["net"] == net && c["version"] == "0.1" && c["img0"] == img0 && c["img1"] == img1)
      return c["distance"];
  throw std::runtime_error("no golden");
}

}  // namespace

TEST(Cli, PrintsTheReferenceDistance) {
  LPIPS_NEEDS_SHARED();
  lpipstest::TempDir tmp;
  const std::string ref = "shared:imgs/ex_ref.png", p0 = "shared:imgs/ex_p0.png";
  const std::string weights = " --backbone " + q(lpipstest::test_backbone("alex", tmp.path())) +
      " --lin " + q(lpipstest::shared_lin("alex"));
  CliRun r = run(q(lpipstest::golden_image(ref)) + " " + q(lpipstest::golden_image(p0)) + weights);
  ASSERT_EQ(r.status, 0) << r.out;
  char want[64];
  std::snprintf(want, sizeof want, "Distance: %.3f\n", golden("alex", ref, p0));
  EXPECT_EQ(r.out, want);

  // More digits, vgg found in a weights folder, the map.
  lpipstest::write_synthetic_vgg16(tmp.path());
  std::filesystem::copy(lpipstest::shared_lin("vgg"), tmp.file("vgg.pth"));
  const std::string a = "data:images/pair_100x64_a.png";
  const std::string b = "data:images/pair_100x64_b.png";
  r = run("--net vgg --weights " + q(tmp.path()) + " --digits 8 --map " + q(tmp.file("map.png")) +
      " " + q(lpipstest::golden_image(a)) + " " + q(lpipstest::golden_image(b)));
  ASSERT_EQ(r.status, 0) << r.out;
  ASSERT_EQ(r.out.rfind("Distance: ", 0), 0u) << r.out;
  EXPECT_NEAR(std::stod(r.out.substr(10)), golden("vgg", a, b), 1e-5);
  cv::Mat map = cv::imread(tmp.file("map.png"));
  EXPECT_EQ(map.cols, 100);
  EXPECT_EQ(map.rows, 64);
}

TEST(Cli, ListMode) {
  LPIPS_NEEDS_SHARED();
  lpipstest::TempDir tmp;
  const std::string ref = lpipstest::golden_image("shared:imgs/ex_ref.png");
  const std::string p0 = lpipstest::golden_image("shared:imgs/ex_p0.png");
  const std::string p1 = lpipstest::golden_image("shared:imgs/ex_p1.png");
  const std::string odd = lpipstest::golden_image("data:images/pair_37x53_a.png");
  {
    std::ofstream list(tmp.file("pairs.txt"));
    list << "# reference against both\n"
         << ref << "\t" << p0 << "\n"
         << ref << " " << p1 << "\n\n"
         << ref << "\t" << odd << "\n"
         << "just-one-path\n";
  }
  CliRun r = run("--net squeeze --backbone " + q(lpipstest::test_backbone("squeeze", tmp.path())) +
      " --lin " + q(lpipstest::shared_lin("squeeze")) + " --digits 6 --map " +
      q(tmp.file("m-%02d.tif")) + " --list " + q(tmp.file("pairs.txt")));
  EXPECT_EQ(r.status, 1) << r.out;  // two bad lines
  // IMG0<TAB>IMG1<TAB>distance for the good lines, in order.
  std::vector<double> got;
  std::istringstream out(r.out);
  for (std::string line; std::getline(out, line);) {
    const auto t1 = line.find('\t'), t2 = line.rfind('\t');
    if (t1 == std::string::npos || t1 == t2) continue;
    EXPECT_EQ(line.substr(0, t1), ref);
    got.push_back(std::stod(line.substr(t2 + 1)));
  }
  ASSERT_EQ(got.size(), 2u) << r.out;
  EXPECT_NEAR(got[0], golden("squeeze", "shared:imgs/ex_ref.png", "shared:imgs/ex_p0.png"), 1e-5);
  EXPECT_NEAR(got[1], golden("squeeze", "shared:imgs/ex_ref.png", "shared:imgs/ex_p1.png"), 1e-5);
  EXPECT_TRUE(contains_all(
      r.out, {"pairs.txt:5: ", "differ in size", "pairs.txt:6: expected IMG0<TAB>IMG1"}))
      << r.out;
  EXPECT_TRUE(std::filesystem::exists(tmp.file("m-00.tif")));
  EXPECT_TRUE(std::filesystem::exists(tmp.file("m-01.tif")));
}

TEST(Cli, Errors) {
  CliRun r = run("");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(contains_all(r.out, {"give two images", "usage: rip-lpips"}));
  r = run("a.png b.png --net resnet");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains_all(r.out, {"unknown LPIPS network 'resnet'"}));
  lpipstest::TempDir tmp;
  // A wrong image name is found before any weights are looked for.
  r = run("--weights " + q(tmp.path()) + " --backbone " + q(tmp.file("none.pth")) + " a.png b.png");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains_all(r.out, {"image file 'a.png' does not exist"})) << r.out;
  const cv::Mat grey(16, 16, CV_8UC3, cv::Scalar(128, 128, 128));
  cv::imwrite(tmp.file("a.png"), grey);
  r = run("--weights " + q(tmp.path()) + " --backbone " + q(tmp.file("none.pth")) + " " +
      q(tmp.file("a.png")) + " " + q(tmp.file("a.png")));
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(contains_all(r.out, {"none.pth", "No such file"})) << r.out;
}

TEST(GetWeightsScript, HashesAreThoseOfTheRealFiles) {
  LPIPS_NEEDS_SHARED();
  const char* src = std::getenv("RIP_SOURCE_ROOT");
  const std::string script = std::string(src ? src : ".") + "/tools/get-lpips-weights";
  FILE* p = popen((script + " --print --version all --dest /d").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::map<std::string, std::string> sha;  // file -> sha256
  char sum[65], file[512], url[1024];
  while (std::fscanf(p, "%64s %511s %1023s", sum, file, url) == 3) sha[file] = sum;
  EXPECT_EQ(pclose(p), 0);
  EXPECT_EQ(sha.size(), 9u);
  // The lin files the script fetches are the ones the tests use.
  auto sha256 = [](const std::string& path) {
    FILE* s = popen(("sha256sum '" + path + "'").c_str(), "r");
    char out[65] = "";
    if (s && std::fscanf(s, "%64s", out) != 1) out[0] = 0;
    if (s) pclose(s);
    return std::string(out);
  };
  for (const char* net : {"alex", "vgg", "squeeze"}) {
    EXPECT_EQ(sha[std::string("/d/lpips/v0.1/") + net + ".pth"], sha256(lpipstest::shared_lin(net)))
        << net;
    EXPECT_EQ(sha[std::string("/d/lpips/v0.0/") + net + ".pth"],
        sha256(lpipstest::data_dir() + "/lin_v0.0/" + net + ".pth"))
        << net;
  }
  EXPECT_EQ(sha["/d/vgg16-397923af.pth"].substr(0, 8), "397923af");
}
