# SPDX-License-Identifier: LGPL-2.1-or-later
"""The reference side of bench/run-lpips-bench.sh: lpips.LPIPS (the lpips
package, PerceptualSimilarity v0.1.4) on Debian's torch, with the same
random backbones and the real lin weights, timed like bench-lpips.

Run through the harness (tests/data/sd/harness_python.sh):
    bench_lpips_reference.py WEIGHTS_DIR NET SIZE REPEATS THREADS
WEIGHTS_DIR holds alexnet.pth / vgg16.safetensors / squeezenet1_1.pth and
alex.pth / vgg.pth / squeeze.pth (as run-lpips-bench.sh prepares it).
"""
import os
import statistics
import sys
import time

import ref as H
import lpips

weights, net, size, repeats, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch = H.setup_torch(threads)  # also torch.set_grad_enabled(False), as inference
arch = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}[net]
backbone = os.path.join(weights, arch + (".safetensors" if net == "vgg" else ".pth"))
model = lpips.LPIPS(pretrained=True, net=net, version="0.1", pnet_rand=True,
                    model_path=os.path.join(weights, net + ".pth"), verbose=False)
H.load_backbone_into_lpips(model, H.load_tensors(backbone))
model.eval()
torch.manual_seed(0)
a = torch.rand(1, 3, size, size) * 2 - 1
b = torch.rand(1, 3, size, size) * 2 - 1


def timed(f):
    f()
    t = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        t.append(time.perf_counter() - t0)
    return statistics.median(t)


d = [0.0]


def run():
    d[0] = model.forward(a, b).item()  # as lpips_2imgs.py calls it


pair = timed(run)
print("RESULT %s %d threads=%d pairs_per_s=%.3f ms_per_pair=%.1f distance=%.6f"
      % (net, size, torch.get_num_threads(), 1.0 / pair, pair * 1e3, d[0]), flush=True)
