// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Parity with the reference lpips package (goldens made by
// tests/data/lpips/make_goldens.py from lpips 0.1.4 on torch 1.13, one
// thread) for alex, vgg and squeeze, v0.1 and v0.0, several sizes, batches,
// spatial maps, normalize=True; plus the properties LPIPS must have and the
// errors for bad weights and inputs.
//
// Tolerance: 1e-5 absolute on distances, per-layer terms and map pixels
// (lpips-spec §1.10). Both sides run the same float32 ATen kernels; what
// differs is the thread count (goldens: 1, tests: OMP_NUM_THREADS=2) and
// our channels-last activations (other oneDNN convolution kernels), each
// worth ~1e-7 relative. The largest errors seen are printed by each test.
#include <cmath>
#include <map>
#include <memory>

#include <ATen/ATen.h>

#include "rip/io/tensor_file.h"
#include "rip/io/image.h"
#include "rip/lpips/image.h"
#include "rip/lpips/lpips.h"
#include "testutil.h"

using namespace rip::lpips;
using lpipstest::contains_all;
using lpipstest::error_of;
using rip::io::TensorEntry;

namespace {

constexpr double kTolerance = 1e-5;

// Models are loaded once per (net, version) for the whole run.
const Lpips& model(const std::string& net, const std::string& version) {
  static lpipstest::TempDir tmp;  // holds the synthetic vgg16
  static std::map<std::string, std::unique_ptr<Lpips>> cache;
  auto& slot = cache[net + version];
  if (!slot) {
    LoadOptions o;
    o.net = parse_net(net);
    o.version = parse_version(version);
    o.backbone_file = lpipstest::test_backbone(net, tmp.path());
    o.lin_file = version == "0.1" ? lpipstest::shared_lin(net)
                                  : lpipstest::data_dir() + "/lin_v0.0/" + net + ".pth";
    slot = std::make_unique<Lpips>(Lpips::load(o));
  }
  return *slot;
}

at::Tensor image(const std::string& ref) {
  return image_to_tensor(rip::io::load_rgb_image(lpipstest::golden_image(ref)));
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

}  // namespace

TEST(LpipsParity, DistancesAndLayerTermsMatchTheReference) {
  LPIPS_NEEDS_SHARED();
  double worst = 0;
  int cases = 0;
  for (const auto& c : lpipstest::goldens()["cases"]) {
    const std::string net = c["net"], version = c["version"];
    SCOPED_TRACE(net + " v" + version + " " + c["img0"].get<std::string>() + " vs " +
        c["img1"].get<std::string>());
    ForwardOptions o;
    o.per_layer = true;
    LpipsResult r = model(net, version).forward(image(c["img0"]), image(c["img1"]), o);
    ASSERT_EQ(r.distance.sizes(), (std::vector<int64_t>{1, 1, 1, 1}));
    const double d = r.distance.item<double>();
    const double want = c["distance"];
    EXPECT_NEAR(d, want, kTolerance);
    worst = std::max(worst, std::fabs(d - want));
    const auto& layers = c["per_layer"];
    ASSERT_EQ(r.per_layer.size(), layers.size());
    for (size_t k = 0; k < layers.size(); k++) {
      EXPECT_NEAR(r.per_layer[k].item<double>(), layers[k].get<double>(), kTolerance)
          << "layer " << k;
      worst = std::max(worst, std::fabs(r.per_layer[k].item<double>() - layers[k].get<double>()));
    }
    cases++;
  }
  EXPECT_EQ(cases, 21);
  std::printf(
      "[ parity ] %d cases (3 nets, v0.1 and v0.0, 64x64 to "
      "256x256): max |ours - lpips| = %.3g (tolerance %.0e)\n",
      cases, worst, kTolerance);
}

TEST(LpipsParity, SpatialMapsMatchTheReference) {
  LPIPS_NEEDS_SHARED();
  auto maps = TensorFile::open(lpipstest::data_dir() + "/goldens.safetensors");
  double worst = 0;
  int n = 0;
  for (const auto& c : lpipstest::goldens()["cases"]) {
    if (!c.contains("spatial")) continue;
    const std::string key = c["spatial"];
    SCOPED_TRACE(key);
    ForwardOptions o;
    o.spatial = true;
    LpipsResult r = model(c["net"], c["version"]).forward(image(c["img0"]), image(c["img1"]), o);
    const TensorEntry* e = maps->find(key);
    ASSERT_NE(e, nullptr);
    ASSERT_EQ(r.spatial.sizes(), at::IntArrayRef(e->shape));
    std::vector<float> want = maps->read_float(*e);
    at::Tensor golden = at::from_blob(want.data(), e->shape, at::kFloat);
    const double diff = max_abs_diff(r.spatial, golden);
    EXPECT_LE(diff, kTolerance);
    worst = std::max(worst, diff);
    // The map's mean is close to, not equal to, the distance (bilinear
    // upsampling does not keep means): lpips-spec §1.6.
    EXPECT_NEAR(r.spatial.mean().item<double>(), c["distance"].get<double>(), 5e-4);
    n++;
  }
  EXPECT_EQ(n, 6);
  std::printf("[ parity ] %d spatial maps: max |ours - lpips| = %.3g\n", n, worst);
}

TEST(LpipsParity, BatchesAndNormalizeMatchTheReference) {
  LPIPS_NEEDS_SHARED();
  double worst = 0;
  for (const auto& b : lpipstest::goldens()["batch"]) {
    SCOPED_TRACE(b["net"].get<std::string>());
    std::vector<at::Tensor> x0, x1;
    for (const auto& p : b["img0"]) x0.push_back(image(p));
    for (const auto& p : b["img1"]) x1.push_back(image(p));
    at::Tensor d = model(b["net"], "0.1").forward(at::cat(x0), at::cat(x1));
    ASSERT_EQ(d.sizes(), (std::vector<int64_t>{3, 1, 1, 1}));
    for (int k = 0; k < 3; k++) {
      const double want = b["distances"][k];
      EXPECT_NEAR(d[k].item<double>(), want, kTolerance) << k;
      worst = std::max(worst, std::fabs(d[k].item<double>() - want));
    }
  }
  for (const auto& c : lpipstest::goldens()["normalize"]) {
    ForwardOptions o;
    o.normalize = true;
    at::Tensor a = (image(c["img0"]) + 1) / 2, b = (image(c["img1"]) + 1) / 2;
    const double d = model(c["net"], "0.1").forward(a, b, o).distance.item<double>();
    EXPECT_NEAR(d, c["distance"].get<double>(), kTolerance);
    worst = std::max(worst, std::fabs(d - c["distance"].get<double>()));
  }
  std::printf(
      "[ parity ] batches of 3 and normalize=True: max |ours - "
      "lpips| = %.3g\n",
      worst);
}

TEST(Lpips, FeaturesThenCompareIsForward) {
  LPIPS_NEEDS_SHARED();
  const Lpips& m = model("squeeze", "0.1");
  at::Tensor a = image("shared:imgs/ex_ref.png");
  at::Tensor b = image("shared:imgs/ex_p1.png");
  ForwardOptions o;
  o.spatial = true;
  LpipsResult whole = m.forward(a, b, o);
  LpipsResult split = m.compare(m.features(a), m.features(b), o);
  EXPECT_EQ(whole.distance.item<double>(), split.distance.item<double>());
  EXPECT_EQ(max_abs_diff(whole.spatial, split.spatial), 0.0);
  // A batch of one against a batch of three (broadcast).
  at::Tensor three = at::cat({a, b, a});
  at::Tensor d = m.compare(m.features(b), m.features(three)).distance;
  EXPECT_NEAR(d[0].item<double>(), split.distance.item<double>(), 1e-7);
  EXPECT_NEAR(d[1].item<double>(), 0.0, 1e-12);
}

TEST(Lpips, IdenticalImagesAreZeroAndOrderDoesNotMatter) {
  LPIPS_NEEDS_SHARED();
  for (const char* net : {"alex", "vgg", "squeeze"}) {
    const Lpips& m = model(net, "0.1");
    at::Tensor a = image("data:images/pair_37x53_a.png");
    at::Tensor b = image("data:images/pair_37x53_b.png");
    EXPECT_EQ(m.forward(a, a).item<double>(), 0.0) << net;
    const double ab = m.forward(a, b).item<double>();
    EXPECT_GT(ab, 0.0) << net;
    EXPECT_NEAR(m.forward(b, a).item<double>(), ab, 1e-9) << net;
  }
}

TEST(Lpips, InputsAreChecked) {
  LPIPS_NEEDS_SHARED();
  const Lpips& m = model("alex", "0.1");
  at::Tensor a = image("shared:imgs/ex_ref.png");
  // [0,255] data: the classic mistake.
  EXPECT_TRUE(contains_all(error_of([&] { m.forward(a * 127.5 + 127.5, a); }),
      {"values in [", "expected [-1, 1]", "normalize"}));
  ForwardOptions o;
  o.normalize = true;
  EXPECT_TRUE(contains_all(error_of([&] { m.forward(a, a, o); }), {"expected [0, 1]"}));
  EXPECT_TRUE(contains_all(error_of([&] { m.forward(a.narrow(2, 0, 30), a.narrow(2, 0, 30)); }),
      {"alex needs images of at least 31x31", "64x30"}));
  EXPECT_TRUE(contains_all(error_of([&] { m.forward(a, a.narrow(3, 0, 40)); }), {"same shape"}));
  EXPECT_TRUE(contains_all(error_of([&] { m.forward(a[0], a[0]); }),
      {"in0 must be an RGB batch [N,3,H,W]", "[3,64,64]"}));
  EXPECT_TRUE(contains_all(
      error_of([&] { m.compare(m.features(a), m.features(a.narrow(3, 0, 40))); }), {"same size"}));
}

TEST(Lpips, WrongWeightFilesAreRefusedNamingFileAndTensor) {
  LPIPS_NEEDS_SHARED();
  lpipstest::TempDir tmp;
  auto load = [&](const std::string& net, const std::string& backbone, const std::string& lin) {
    return error_of([&] {
      LoadOptions o;
      o.net = parse_net(net);
      o.backbone_file = backbone;
      o.lin_file = lin;
      Lpips::load(o);
    });
  };
  const std::string alex = lpipstest::test_backbone("alex", tmp.path());
  const std::string squeeze = lpipstest::test_backbone("squeeze", tmp.path());
  // Another architecture's backbone.
  EXPECT_TRUE(contains_all(load("alex", squeeze, lpipstest::shared_lin("alex")),
      {"squeezenet1_1.pth", "features.0.weight",
          "has shape [64, 3, 3, 3], expected [64, 3, 11, 11]"}));
  EXPECT_TRUE(contains_all(load("squeeze", alex, lpipstest::shared_lin("squeeze")),
      {"alexnet.pth", "features.0.weight", "has shape [64, 3, 11, 11], expected [64, 3, 3, 3]"}));
  // Another net's lin weights.
  EXPECT_TRUE(contains_all(load("alex", alex, lpipstest::shared_lin("vgg")),
      {"vgg.pth", "lin1.model.1.weight", "[1, 128, 1, 1]", "[1, 192, 1, 1]"}));
  // A lin file as backbone and the reverse.
  EXPECT_TRUE(contains_all(load("alex", lpipstest::shared_lin("alex"), alex),
      {"alex.pth is not a torchvision alexnet checkpoint", "lacks features.0.weight",
          "lin0.model.1.weight"}));
  // Negative lin weights (an untrained or broken file).
  auto lin = TensorFile::open(lpipstest::shared_lin("alex"));
  std::vector<lpipstest::F32Tensor> tensors;
  for (const auto& t : lin->tensors()) tensors.push_back({t.name, t.shape, lin->read_float(t)});
  tensors[2].values[7] = -0.5f;
  lpipstest::write_bytes(tmp.file("neg.safetensors"), lpipstest::safetensors_bytes(tensors));
  EXPECT_TRUE(contains_all(load("alex", alex, tmp.file("neg.safetensors")),
      {"neg.safetensors", "lin2.model.1.weight", "-0.5", "channel 7", ">= 0"}));
  // An extra tensor (e.g. a key of a model saved without the dropout).
  tensors[2].values[7] = 0.5f;
  tensors.push_back({"lin0.model.0.weight", {1, 64, 1, 1}, std::vector<float>(64, 0.1f)});
  lpipstest::write_bytes(tmp.file("extra.safetensors"), lpipstest::safetensors_bytes(tensors));
  EXPECT_TRUE(contains_all(load("alex", alex, tmp.file("extra.safetensors")),
      {"extra.safetensors", "lin0.model.0.weight"}));
}

TEST(Lpips, ImagesAreReadAsLpipsReadsThem) {
  LPIPS_NEEDS_SHARED();
  // lpips-spec §3.3: pixel (0,0) of ex_ref is RGB (247, 242, 221) ->
  // [0.9372549, 0.8980392, 0.7333333].
  at::Tensor t = image("shared:imgs/ex_ref.png");
  EXPECT_FLOAT_EQ(t[0][0][0][0].item<float>(), float(247 / 127.5 - 1.0));
  EXPECT_FLOAT_EQ(t[0][1][0][0].item<float>(), float(242 / 127.5 - 1.0));
  EXPECT_FLOAT_EQ(t[0][2][0][0].item<float>(), float(221 / 127.5 - 1.0));
  EXPECT_NEAR(((t[0][0] + 1) * 127.5).mean().item<double>(), 198.091, 1e-3);
  EXPECT_TRUE(contains_all(error_of([] { rip::io::load_rgb_image("/no/such.png"); }),
      {"/no/such.png", "does not exist"}));
}
