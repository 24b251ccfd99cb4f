// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Full-reference image similarity: SSIM, MS-SSIM and PSNR on 8-bit images.
//
// SSIM follows Wang et al. 2004 as scikit-image (gaussian_weights=True,
// use_sample_covariance=False) and pytorch_msssim compute it: an 11-tap
// Gaussian window with sigma 1.5, 'valid' filtering (no padding), population
// variances, K1 = 0.01, K2 = 0.03, dynamic range L = 255, computed per
// channel and averaged over channels.
//
// MS-SSIM follows Wang et al. 2003 as pytorch_msssim and TensorFlow's
// ssim_multiscale compute it: 5 scales with the weights
// (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), a 2x2 average pool between
// scales, contrast-structure terms at the first four scales and the full SSIM
// at the last, negative terms clamped to 0, product per channel, then the
// mean over channels. Both sides must be at least 161 px.
//
// PSNR is 10 log10(255^2 / MSE) over all pixels and channels; identical
// images give +infinity.
//
// LPIPS (lpips-alex, lpips-vgg, lpips-squeeze: lpips.LPIPS(net, version='0.1'))
// is listed here so that it parses and reports like the others, but it is
// computed by rip::LpipsModel (lpips_backend.h), which loads the libtorch
// backend and the weights; compute_metric refuses it.
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace rip {

enum class Metric { Ssim, MsSsim, Psnr, LpipsAlex, LpipsVgg, LpipsSqueeze };

const char* metric_name(Metric metric);

// Parses a comma-separated list such as "ssim,ms-ssim,psnr" (spaces allowed,
// order kept, duplicates refused). Throws Error listing the known names.
std::vector<Metric> parse_metric_list(const std::string& list);

// The names of the metrics computed here (compute_metric), comma-separated.
std::string known_metric_names();
// The LPIPS metric names, comma-separated.
std::string lpips_metric_names();

// LPIPS metrics and their network ("alex", "vgg", "squeeze"; nullptr for
// the others).
bool is_lpips_metric(Metric metric);
const char* lpips_net_name(Metric metric);

// Smallest width and height the metric accepts.
int metric_min_size(Metric metric);

// a and b: same size, same type, CV_8UC1/CV_8UC3/CV_8UC4 (alpha, if any, is
// compared like a colour channel). Throws Error when they do not fit.
double ssim(const cv::Mat& a, const cv::Mat& b);
double ms_ssim(const cv::Mat& a, const cv::Mat& b);
double psnr(const cv::Mat& a, const cv::Mat& b);
// SSIM, MS-SSIM or PSNR; throws Error for an LPIPS metric.
double compute_metric(Metric metric, const cv::Mat& a, const cv::Mat& b);

}  // namespace rip
