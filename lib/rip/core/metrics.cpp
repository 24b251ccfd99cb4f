// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/core/metrics.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <sstream>

#include <opencv2/imgproc.hpp>

#include "rip/error.h"

namespace rip {

namespace {

constexpr int kWindow = 11;
constexpr double kSigma = 1.5;
constexpr double kK1 = 0.01, kK2 = 0.03, kRange = 255.0;
constexpr std::array<double, 5> kMsSsimWeights = {0.0448, 0.2856, 0.3001, 0.2363, 0.1333};

const std::array<Metric, 3> kImageMetrics = {Metric::Ssim, Metric::MsSsim, Metric::Psnr};
const std::array<Metric, 3> kLpipsMetrics = {
    Metric::LpipsAlex, Metric::LpipsVgg, Metric::LpipsSqueeze};
const std::array<Metric, 6> kAllMetrics = {Metric::Ssim, Metric::MsSsim, Metric::Psnr,
    Metric::LpipsAlex, Metric::LpipsVgg, Metric::LpipsSqueeze};

template <size_t N>
std::string names_of(const std::array<Metric, N>& metrics) {
  std::string names;
  for (Metric m : metrics) names += (names.empty() ? "" : ", ") + std::string(metric_name(m));
  return names;
}

std::string all_metric_names() {
  return known_metric_names() + ", " + lpips_metric_names();
}

void check_pair(const cv::Mat& a, const cv::Mat& b, const char* what) {
  if (a.empty() || b.empty()) throw Error(std::string(what) + ": empty image");
  if (a.size() != b.size())
    throw Error(std::string(what) + ": the images differ in size (" + std::to_string(a.cols) + "x" +
        std::to_string(a.rows) + " vs " + std::to_string(b.cols) + "x" + std::to_string(b.rows) +
        "): compare frames of the reference's size");
  if (a.type() != b.type() || a.depth() != CV_8U)
    throw Error(std::string(what) +
        ": both images must be 8-bit with the "
        "same number of channels");
}

// Per-channel mean SSIM and mean contrast-structure term of two
// single-channel double images, 'valid' Gaussian filtering.
struct SsimTerms {
  double ssim;
  double cs;
};

SsimTerms ssim_terms(const cv::Mat& x, const cv::Mat& y) {
  static const cv::Mat g = cv::getGaussianKernel(kWindow, kSigma, CV_64F);
  const double c1 = (kK1 * kRange) * (kK1 * kRange);
  const double c2 = (kK2 * kRange) * (kK2 * kRange);
  // Filtering at full size then cutting the half-window border gives
  // exactly the 'valid' convolution: the border handling never reaches it.
  const int h = kWindow / 2;
  const cv::Rect valid(h, h, x.cols - 2 * h, x.rows - 2 * h);
  auto blur = [&](const cv::Mat& m) {
    cv::Mat out;
    cv::sepFilter2D(m, out, CV_64F, g, g, cv::Point(-1, -1), 0, cv::BORDER_REFLECT101);
    return cv::Mat(out(valid));
  };
  cv::Mat mu1 = blur(x), mu2 = blur(y);
  cv::Mat xx = blur(x.mul(x)), yy = blur(y.mul(y)), xy = blur(x.mul(y));
  double sum_ssim = 0, sum_cs = 0;
  for (int r = 0; r < valid.height; r++) {
    const double* m1 = mu1.ptr<double>(r);
    const double* m2 = mu2.ptr<double>(r);
    const double* pxx = xx.ptr<double>(r);
    const double* pyy = yy.ptr<double>(r);
    const double* pxy = xy.ptr<double>(r);
    for (int c = 0; c < valid.width; c++) {
      const double s1 = pxx[c] - m1[c] * m1[c];
      const double s2 = pyy[c] - m2[c] * m2[c];
      const double s12 = pxy[c] - m1[c] * m2[c];
      const double cs = (2 * s12 + c2) / (s1 + s2 + c2);
      const double l = (2 * m1[c] * m2[c] + c1) / (m1[c] * m1[c] + m2[c] * m2[c] + c1);
      sum_cs += cs;
      sum_ssim += l * cs;
    }
  }
  const double n = double(valid.area());
  return {sum_ssim / n, sum_cs / n};
}

std::vector<cv::Mat> split_double(const cv::Mat& m) {
  std::vector<cv::Mat> planes;
  cv::split(m, planes);
  for (auto& p : planes) p.convertTo(p, CV_64F);
  return planes;
}

// 2x2 average pooling, stride 2; an odd side gets one zero row/column of
// padding on both ends that counts in the average (torch's avg_pool2d with
// padding = size % 2, as pytorch_msssim calls it).
cv::Mat avg_pool2(const cv::Mat& in) {
  const int pr = in.rows % 2, pc = in.cols % 2;
  const int out_rows = (in.rows + 2 * pr - 2) / 2 + 1;
  const int out_cols = (in.cols + 2 * pc - 2) / 2 + 1;
  cv::Mat out(out_rows, out_cols, CV_64F);
  auto at = [&](int r, int c) {
    r -= pr;
    c -= pc;
    if (r < 0 || c < 0 || r >= in.rows || c >= in.cols) return 0.0;
    return in.at<double>(r, c);
  };
  for (int r = 0; r < out_rows; r++)
    for (int c = 0; c < out_cols; c++)
      out.at<double>(r, c) = 0.25 *
          (at(2 * r, 2 * c) + at(2 * r, 2 * c + 1) + at(2 * r + 1, 2 * c) +
              at(2 * r + 1, 2 * c + 1));
  return out;
}

void check_min_size(Metric metric, const cv::Mat& a) {
  const int min = metric_min_size(metric);
  if (a.cols < min || a.rows < min)
    throw Error(std::string(metric_name(metric)) +
        " needs images of at "
        "least " +
        std::to_string(min) + "x" + std::to_string(min) + " px, got " + std::to_string(a.cols) +
        "x" + std::to_string(a.rows));
}

}  // namespace

const char* metric_name(Metric metric) {
  switch (metric) {
    case Metric::Ssim: return "ssim";
    case Metric::MsSsim: return "ms-ssim";
    case Metric::Psnr: return "psnr";
    case Metric::LpipsAlex: return "lpips-alex";
    case Metric::LpipsVgg: return "lpips-vgg";
    case Metric::LpipsSqueeze: return "lpips-squeeze";
  }
  return "?";
}

std::string known_metric_names() {
  return names_of(kImageMetrics);
}

std::string lpips_metric_names() {
  return names_of(kLpipsMetrics);
}

bool is_lpips_metric(Metric metric) {
  return lpips_net_name(metric) != nullptr;
}

const char* lpips_net_name(Metric metric) {
  switch (metric) {
    case Metric::LpipsAlex: return "alex";
    case Metric::LpipsVgg: return "vgg";
    case Metric::LpipsSqueeze: return "squeeze";
    default: return nullptr;
  }
}

std::vector<Metric> parse_metric_list(const std::string& list) {
  std::vector<Metric> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) continue;
    auto it = std::find_if(
        kAllMetrics.begin(), kAllMetrics.end(), [&](Metric m) { return item == metric_name(m); });
    if (it == kAllMetrics.end())
      throw Error("unknown metric '" + item +
          "': use a comma-separated "
          "list of " +
          all_metric_names());
    if (std::find(out.begin(), out.end(), *it) != out.end())
      throw Error("metric '" + item + "' is listed twice");
    out.push_back(*it);
  }
  if (out.empty())
    throw Error(
        "no metric selected: set metrics to a comma-separated list "
        "of " +
        all_metric_names());
  return out;
}

int metric_min_size(Metric metric) {
  switch (metric) {
    case Metric::Ssim: return kWindow;
    // (window - 1) * 2^(scales - 1) + 1: the coarsest scale still holds
    // one valid window.
    case Metric::MsSsim: return (kWindow - 1) * 16 + 1;
    case Metric::Psnr: return 1;
    // The backbones' smallest inputs (rip/lpips/nets.h: min_input_size).
    case Metric::LpipsAlex: return 31;
    case Metric::LpipsVgg: return 16;
    case Metric::LpipsSqueeze: return 17;
  }
  return 1;
}

double ssim(const cv::Mat& a, const cv::Mat& b) {
  check_pair(a, b, "ssim");
  check_min_size(Metric::Ssim, a);
  auto pa = split_double(a), pb = split_double(b);
  double sum = 0;
  for (size_t c = 0; c < pa.size(); c++) sum += ssim_terms(pa[c], pb[c]).ssim;
  return sum / double(pa.size());
}

double ms_ssim(const cv::Mat& a, const cv::Mat& b) {
  check_pair(a, b, "ms-ssim");
  check_min_size(Metric::MsSsim, a);
  auto pa = split_double(a), pb = split_double(b);
  double sum = 0;
  for (size_t c = 0; c < pa.size(); c++) {
    cv::Mat x = pa[c], y = pb[c];
    double value = 1.0;
    for (size_t scale = 0; scale < kMsSsimWeights.size(); scale++) {
      SsimTerms t = ssim_terms(x, y);
      const bool last = scale + 1 == kMsSsimWeights.size();
      const double term = std::max(0.0, last ? t.ssim : t.cs);
      value *= std::pow(term, kMsSsimWeights[scale]);
      if (!last) {
        x = avg_pool2(x);
        y = avg_pool2(y);
      }
    }
    sum += value;
  }
  return sum / double(pa.size());
}

double psnr(const cv::Mat& a, const cv::Mat& b) {
  check_pair(a, b, "psnr");
  const double sse = cv::norm(a, b, cv::NORM_L2SQR);
  if (sse == 0) return std::numeric_limits<double>::infinity();
  const double mse = sse / (double(a.total()) * a.channels());
  return 10.0 * std::log10(kRange * kRange / mse);
}

double compute_metric(Metric metric, const cv::Mat& a, const cv::Mat& b) {
  switch (metric) {
    case Metric::Ssim: return ssim(a, b);
    case Metric::MsSsim: return ms_ssim(a, b);
    case Metric::Psnr: return psnr(a, b);
    case Metric::LpipsAlex:
    case Metric::LpipsVgg:
    case Metric::LpipsSqueeze: break;
  }
  throw Error(std::string(metric_name(metric)) +
      " is computed by the LPIPS "
      "backend (rip::LpipsModel), not by compute_metric");
}

}  // namespace rip
