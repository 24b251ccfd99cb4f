# SPDX-License-Identifier: LGPL-2.1-or-later
"""LPIPS parity goldens from the reference lpips package (PerceptualSimilarity
v0.1.4 on Debian's torch 1.13, through shared/tools/refharness).

Run by make_goldens.sh (which first makes the random torchvision backbones):
    HARNESS_THREADS=1 OMP_NUM_THREADS=1 tests/data/sd/harness_python.sh \
        tests/data/lpips/make_goldens.py SHARED_DIR

Writes, next to this script:
  images/*.png          synthetic test image pairs (non-square and large)
  goldens.json          distances and per-layer terms of every case
  goldens.safetensors   spatial maps (lpips spatial=True) of some cases
The networks are lpips.LPIPS(pretrained=True, net=..., version=...,
pnet_rand=True, model_path=<lin .pth>) (lpips itself loads the lin weights
with torch.load), with the backbone copied in by the harness's own
load_backbone_into_lpips: alexnet.pth and squeezenet1_1.pth from this
folder (torch.save output of `ref make-lpips-backbones --features-only`) and
the synthetic VGG16 of synthetic_vgg16.py.
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

import ref as H
import lpips

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import synthetic_vgg16  # noqa: E402

H.setup_torch()
SHARED = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../../../shared"))
LIN = {"0.1": os.path.join(SHARED, "data/lpips/weights/v0.1"),
       "0.0": os.path.join(HERE, "lin_v0.0")}


def synthetic_pair(width, height, seed):
    """A smooth textured image and a copy with a repainted square + noise,
    i.e. what one recursive inpainting step does."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.zeros((height, width, 3))
    for c in range(3):
        img[..., c] = (128 + 60 * np.sin(xx / (5 + 3 * c) + rng.uniform(0, 6))
                       + 50 * np.cos(yy / (7 + 2 * c) + rng.uniform(0, 6)))
    cx, cy, r = width * 0.6, height * 0.4, min(width, height) * 0.25
    img[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = rng.uniform(30, 220, 3)
    img += rng.randn(height, width, 3) * 6
    a = np.clip(img, 0, 255).round().astype(np.uint8)
    b = a.astype(np.float64)
    s = min(width, height) // 3
    x0, y0 = width // 5, height // 3
    patch = b[y0:y0 + s, x0:x0 + s]
    b[y0:y0 + s, x0:x0 + s] = patch.mean(axis=(0, 1)) * 0.6 + patch * 0.4
    b += rng.randn(height, width, 3) * 3
    b = np.clip(b, 0, 255).round().astype(np.uint8)
    return a, b


def data_path(ref):
    kind, rel = ref.split(":", 1)
    return os.path.join(SHARED, "data/lpips", rel) if kind == "shared" else os.path.join(HERE, rel)


def load(ref):
    return lpips.im2tensor(lpips.load_image(data_path(ref)))  # the scripts' loader


def backbone(net):
    if net == "vgg":
        return {k: torch.from_numpy(v) for k, v in synthetic_vgg16.state_dict().items()}
    name = {"alex": "alexnet", "squeeze": "squeezenet1_1"}[net]
    return torch.load(os.path.join(HERE, name + ".pth"), map_location="cpu")


def model(net, version):
    m = lpips.LPIPS(pretrained=True, net=net, version=version, pnet_rand=True,
                    model_path=os.path.join(LIN[version], net + ".pth"), verbose=False)
    unused = H.load_backbone_into_lpips(m, backbone(net))
    assert not unused, unused
    return m.eval()


def deflated_copy():
    """alex.pt (a torch.save zip) re-zipped with deflate, as a zip tool
    would: the reader must inflate it to the same tensors."""
    import zipfile
    src = os.path.join(SHARED, "data/lpips/weights/v0.1-zip-plaindict/alex.pt")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(
            os.path.join(HERE, "alex_deflated.pt"), "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(fixed, zin.read(info.filename))


def checkpoint_checksums():
    """What torch.load reads from each weight file the reader tests open:
    shape and CRC-32 of every tensor's float32 bytes."""
    import zlib
    out = {}
    files = ["data:alexnet.pth", "data:squeezenet1_1.pth", "data:alex_deflated.pt"]
    files += ["data:lin_v0.0/%s.pth" % n for n in ("alex", "vgg", "squeeze")]
    files += ["shared:weights/v0.1/%s.pth" % n for n in ("alex", "vgg", "squeeze")]
    for ref in files:
        sd = torch.load(data_path(ref), map_location="cpu")
        out[ref] = {k: {"shape": list(v.shape), "crc32": zlib.crc32(v.contiguous().numpy().tobytes())}
                    for k, v in sd.items()}
    return out


def main():
    deflated_copy()
    os.makedirs(os.path.join(HERE, "images"), exist_ok=True)
    pairs = {"100x64": (100, 64, 1), "64x100": (64, 100, 2), "256x256": (256, 256, 3),
             "37x53": (37, 53, 4)}
    for name, (w, h, seed) in pairs.items():
        a, b = synthetic_pair(w, h, seed)
        Image.fromarray(a).save(os.path.join(HERE, "images", "pair_%s_a.png" % name))
        Image.fromarray(b).save(os.path.join(HERE, "images", "pair_%s_b.png" % name))

    ex = ["shared:imgs/ex_ref.png", "shared:imgs/ex_p0.png", "shared:imgs/ex_p1.png"]
    cases = [(ex[0], ex[1]), (ex[0], ex[2])]
    cases += [("data:images/pair_%s_a.png" % n, "data:images/pair_%s_b.png" % n) for n in pairs]
    spatial_cases = {(ex[0], ex[1]), cases[2]}  # 64x64 and 100x64
    out = {"reference": "lpips %s (PerceptualSimilarity v0.1.4), torch %s, %d thread(s)"
                        % (H.__dict__.get("LPIPS_VERSION", "0.1.4"), torch.__version__,
                           torch.get_num_threads()),
           "cases": [], "batch": [], "normalize": [], "checkpoints": {}}
    maps = {}
    for net in ("alex", "vgg", "squeeze"):
        for version in ("0.1", "0.0"):
            m = model(net, version)
            todo = cases if version == "0.1" else [(ex[0], ex[2])]
            for c0, c1 in todo:
                x0, x1 = load(c0), load(c1)
                d, per = m.forward(x0, x1, retPerLayer=True)
                case = {"net": net, "version": version, "img0": c0, "img1": c1,
                        "size": [int(x0.shape[3]), int(x0.shape[2])],
                        "distance": d.item(), "per_layer": [r.item() for r in per]}
                if version == "0.1" and (c0, c1) in spatial_cases:
                    m.spatial = True
                    smap = m.forward(x0, x1)
                    m.spatial = False
                    key = "%s/%s/%s" % (net, os.path.basename(c0), os.path.basename(c1))
                    maps[key] = smap.contiguous()
                    case["spatial"] = key
                out["cases"].append(case)
            if version == "0.1":
                # A batch: item i compares a0[i] with a1[i].
                a0 = [ex[0], ex[1], ex[2]]
                a1 = [ex[1], ex[2], ex[0]]
                d = m.forward(torch.cat([load(p) for p in a0]), torch.cat([load(p) for p in a1]))
                out["batch"].append({"net": net, "img0": a0, "img1": a1,
                                     "distances": [v.item() for v in d.flatten()]})
                # normalize=True: inputs in [0,1].
                x0, x1 = (load(ex[0]) + 1) / 2, (load(ex[1]) + 1) / 2
                d = m.forward(x0, x1, normalize=True)
                out["normalize"].append({"net": net, "img0": ex[0], "img1": ex[1],
                                         "distance": d.item()})
    out["checkpoints"] = checkpoint_checksums()
    with open(os.path.join(HERE, "goldens.json"), "w") as f:
        json.dump(out, f, indent=1)
    H.save_tensors(os.path.join(HERE, "goldens.safetensors"), maps,
                   metadata={"made_by": "tests/data/lpips/make_goldens.py"})
    print(json.dumps({k: len(v) for k, v in out.items() if k != "reference"}))


if __name__ == "__main__":
    main()
