# SPDX-License-Identifier: LGPL-2.1-or-later
"""The synthetic VGG16 backbone of the LPIPS parity tests (see PROVENANCE.md).

A real-sized random vgg16.features checkpoint is 59 MB, too big for the
repository, so the tests regenerate one from a formula that C++
(tests/lpips/testutil.cpp, synthetic_vgg16) and Python reproduce exactly:
every weight is int8 * 2^-k, which float32 holds exactly, so both sides get
bit-identical tensors.

For conv layer `index` (torchvision features index) and element j (row-major)
of its weight or bias:
    x  = (index << 32) + j            (bias: + (1 << 31))
    z  = splitmix64 finaliser of (x + 0x9E3779B97F4A7C15)
    q  = the top byte of z as a signed int8
    w  = q * 2^-K[index] (weights), q * 2^-12 (biases)
K keeps the weights' spread near He's sqrt(2 / fan_in), so activations keep
their scale through the 13 layers.
"""
import numpy as np

# torchvision vgg16.features conv layers: index -> (out, in)
LAYERS = [(0, 64, 3), (2, 64, 64), (5, 128, 64), (7, 128, 128), (10, 256, 128),
          (12, 256, 256), (14, 256, 256), (17, 512, 256), (19, 512, 512),
          (21, 512, 512), (24, 512, 512), (26, 512, 512), (28, 512, 512)]
# round(log2(73.9 * sqrt(9 * in / 2))): 73.9 is the spread of a uniform int8
K = {0: 8, 2: 10, 5: 10, 7: 11, 10: 11, 12: 11, 14: 11, 17: 11, 19: 12,
     21: 12, 24: 12, 26: 12, 28: 12}
BIAS_K = 12

M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def splitmix64(x):
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def values(index, n, bias):
    j = np.arange(n, dtype=np.uint64)
    x = (np.uint64(index) << np.uint64(32)) + j
    if bias:
        x = x + np.uint64(1 << 31)
    q = (splitmix64(x) >> np.uint64(56)).astype(np.uint8).view(np.int8)
    k = BIAS_K if bias else K[index]
    return q.astype(np.float32) * np.float32(2.0 ** -k)


def state_dict():
    """torchvision-named features.* tensors (float32 numpy arrays)."""
    sd = {}
    for index, out, inp in LAYERS:
        shape = (out, inp, 3, 3)
        sd["features.%d.weight" % index] = values(index, int(np.prod(shape)), False).reshape(shape)
        sd["features.%d.bias" % index] = values(index, out, True)
    return sd
