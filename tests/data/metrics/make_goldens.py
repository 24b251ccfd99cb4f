#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Regenerates the SSIM / MS-SSIM / PSNR golden data for tests/lib.

The reference is pytorch_msssim (https://github.com/VainF/pytorch-msssim),
which our MS-SSIM mirrors (Gaussian 11/1.5 'valid' filtering, avg_pool2d 2x2
with padding = size % 2, relu on cs and on the last ssim, per-channel product,
channel mean). It is not vendored: check it out anywhere and pass the folder
that holds the pytorch_msssim package.

How the committed goldens.tsv was made:

    pytorch_msssim commit b057b072dd869ae3f6b88543786f44d008315f69
        (VainF/pytorch-msssim, 2023-08-16, the package as released in 1.0.0)
    git --git-dir=<mirror of VainF/pytorch-msssim> archive \\
        b057b072dd869ae3f6b88543786f44d008315f69 pytorch_msssim \\
        | tar -x -C /tmp/pms
    /usr/bin/python3 tests/data/metrics/make_goldens.py /tmp/pms
    (Debian 12: python3-torch 1.13.1+dfsg-4, python3-numpy 1.24.2,
    python3-pil 9.4.0; CPU)

The reference runs entirely in float64: the tensors are float64, and the
Gaussian window is passed explicitly as a float64 tensor, because
pytorch_msssim's own _fspecial_gauss_1d always builds it in float32 (its
weights would then be rounded to ~1e-8 relative, which is reference noise,
not a property of SSIM). The script also prints how far the as-is float32
window moves each value, for the record.

The images are generated from numpy with a fixed seed and written as PNG
(lossless); the metrics are computed on the PNGs as read back, so the C++
test (which loads the same files) sees exactly the same pixels.
"""

import argparse
import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20240611
MSSSIM_COMMIT = "b057b072dd869ae3f6b88543786f44d008315f69"


def gradient_texture(width, height, rng):
    """A smooth colour gradient with soft sinusoidal structure."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 40 + 170 * x / (width - 1) + 20 * np.sin(y / 9.0)
    g = 60 + 150 * y / (height - 1) + 25 * np.cos(x / 13.0 + y / 17.0)
    b = 128 + 80 * np.sin((x + 2 * y) / 23.0) * np.cos((x - y) / 31.0)
    img = np.stack([r, g, b], axis=-1)
    # A few soft blobs so the structure varies over the frame.
    for _ in range(6):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rad = rng.uniform(10, 40)
        amp = rng.uniform(-60, 60, size=3)
        blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * rad ** 2))
        img += blob[..., None] * amp
    return img


def to_u8(img):
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def add_noise(img, rng, sigma):
    return img + rng.normal(0.0, sigma, size=img.shape)


def box_blur(img, radius):
    """Separable box blur with edge replication, applied twice (~Gaussian)."""
    out = img.astype(np.float64)
    k = 2 * radius + 1
    for _ in range(2):
        for axis in (0, 1):
            pad = [(0, 0)] * out.ndim
            pad[axis] = (radius + 1, radius)
            c = np.cumsum(np.pad(out, pad, mode="edge"), axis=axis)
            hi = np.take(c, np.arange(k, c.shape[axis]), axis=axis)
            lo = np.take(c, np.arange(0, c.shape[axis] - k), axis=axis)
            out = (hi - lo) / k
    return out


def shift(img, dx, dy):
    """Moves the content by (dx, dy) px, replicating the edge."""
    h, w = img.shape[:2]
    ys = np.clip(np.arange(h) - dy, 0, h - 1)
    xs = np.clip(np.arange(w) - dx, 0, w - 1)
    return img[ys][:, xs]


def make_images():
    rng = np.random.default_rng(SEED)
    images = {}
    # 192x192: square, every scale even (192, 96, 48, 24, 12).
    base = gradient_texture(192, 192, rng)
    images["sq_smooth.png"] = to_u8(base)
    noisy = to_u8(add_noise(base, rng, 12.0))
    images["sq_noisy.png"] = noisy
    images["sq_blurred.png"] = to_u8(box_blur(noisy, 2))
    # 200 wide x 168 high: odd at the fourth scale on both axes
    # (200, 100, 50, 25 -> 13 and 168, 84, 42, 21 -> 11), so the
    # padding = size % 2 path of the pooling is exercised; the coarsest
    # scale is 13x11, still one 11-px window.
    wide = to_u8(add_noise(gradient_texture(200, 168, rng), rng, 6.0))
    images["wide_a.png"] = wide
    images["wide_shifted.png"] = to_u8(
        add_noise(shift(wide.astype(np.float64), 3, 2), rng, 4.0))
    return images


# (file_a, file_b): a mix of close and distant pairs, plus an inverted image,
# whose contrast-structure terms are negative (SSIM < 0, MS-SSIM clamped).
PAIRS = [
    ("sq_smooth.png", "sq_noisy.png"),
    ("sq_smooth.png", "sq_blurred.png"),
    ("sq_noisy.png", "sq_blurred.png"),
    ("wide_a.png", "wide_shifted.png"),
    ("wide_a.png", "wide_inverted.png"),
]


def load(path):
    return np.asarray(Image.open(path).convert("RGB"))


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("msssim_dir",
        help="folder holding the pytorch_msssim package (commit %s)"
        % MSSSIM_COMMIT)
    ap.add_argument("--out", default=HERE)
    args = ap.parse_args()
    sys.path.insert(0, args.msssim_dir)
    import torch
    from pytorch_msssim import ms_ssim, ssim

    torch.set_default_dtype(torch.float64)

    images = make_images()
    images["wide_inverted.png"] = 255 - images["wide_a.png"]
    for name, img in images.items():
        Image.fromarray(img, "RGB").save(os.path.join(args.out, name),
            optimize=True)

    # The same window as pytorch_msssim's _fspecial_gauss_1d, in float64.
    coords = torch.arange(11, dtype=torch.float64) - 11 // 2
    g = torch.exp(-(coords ** 2) / (2 * 1.5 ** 2))
    g /= g.sum()
    win = g.reshape(1, 1, 1, 11).repeat(3, 1, 1, 1)

    def tensor(a):
        return torch.from_numpy(a.astype(np.float64)).permute(2, 0, 1)[None]

    lines = [
        "# SSIM / MS-SSIM / PSNR goldens for tests/lib (make_goldens.py).",
        "# reference: pytorch_msssim commit %s, torch %s, float64, "
        "data_range=255, size_average=True, float64 Gaussian window 11/1.5"
        % (MSSSIM_COMMIT, torch.__version__),
        "file_a\tfile_b\tssim\tms_ssim\tpsnr",
    ]
    for fa, fb in PAIRS:
        a = load(os.path.join(args.out, fa))
        b = load(os.path.join(args.out, fb))
        x, y = tensor(a), tensor(b)
        s = ssim(x, y, data_range=255, size_average=True, win=win).item()
        m = ms_ssim(x, y, data_range=255, size_average=True, win=win).item()
        # As released (float32 window), for the record only.
        s32 = ssim(x, y, data_range=255, size_average=True).item()
        m32 = ms_ssim(x, y, data_range=255, size_average=True).item()
        p = psnr(a, b)
        print("%-16s %-18s ssim %.12f ms-ssim %.12f psnr %.6f  "
              "(float32 window moves them by %.1e, %.1e)"
              % (fa, fb, s, m, p, abs(s - s32), abs(m - m32)))
        lines.append("%s\t%s\t%.17g\t%.17g\t%.17g" % (fa, fb, s, m, p))
    with open(os.path.join(args.out, "goldens.tsv"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
