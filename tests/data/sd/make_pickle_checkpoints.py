#!/usr/bin/env python3
"""Write the PyTorch-pickle test checkpoints with the reference code:

  pickle/tiny-sd2-bin/    tiny-sd2-fp16 as a folder saved before safetensors:
                          for unet, vae, text_encoder
                            c = <Class>.from_pretrained(tiny-sd2-fp16/<c>, variant="fp16",
                                                        torch_dtype=torch.float16)
                            c.save_pretrained(dst/<c>, variant="fp16", safe_serialization=False)
                          giving diffusion_pytorch_model.fp16.bin (torch.save's zip format)
                          and text_encoder/pytorch_model.fp16.bin; configs, tokenizer,
                          scheduler and model_index.json copied from tiny-sd2-fp16.
  pickle/legacy/text_encoder/pytorch_model.bin
                          tiny-sd2's fp32 text encoder state dict written by
                          torch.save(..., _use_new_zipfile_serialization=False) (the
                          pre-1.6 format), with its config.json.
  pickle/hostile/unet/diffusion_pytorch_model.bin
                          a torch.save-shaped zip whose data.pkl calls
                          os.system("touch /tmp/rip-hostile-pickle-ran") when unpickled
                          (what a malicious .bin/.ckpt does), with tiny-sd2's unet config.

Checks that from_pretrained on tiny-sd2-bin gives exactly tiny-sd2-fp16's tensors and that
torch.load of the legacy file gives tiny-sd2's. Prints a JSON report.

Run: tests/data/sd/harness_python.sh tests/data/sd/make_pickle_checkpoints.py D
(D = tests/data/sd, holding tiny-sd2 and tiny-sd2-fp16).
"""
import io
import json
import os
import pickle
import shutil
import sys
import zipfile

import ref as H

torch = H.setup_torch()
from diffusers import AutoencoderKL, UNet2DConditionModel  # noqa: E402
from transformers import CLIPTextModel  # noqa: E402

CLASSES = {"unet": UNet2DConditionModel, "vae": AutoencoderKL, "text_encoder": CLIPTextModel}


class Hostile:
    def __reduce__(self):
        return (os.system, ("touch /tmp/rip-hostile-pickle-ran",))


def main():
    d = sys.argv[1]
    out = os.path.join(d, "pickle")
    shutil.rmtree(out, ignore_errors=True)
    src = os.path.join(d, "tiny-sd2-fp16")
    dst = os.path.join(out, "tiny-sd2-bin")
    report = {}
    os.makedirs(dst)
    for name in ("model_index.json", "scheduler", "tokenizer"):
        s = os.path.join(src, name)
        (shutil.copytree if os.path.isdir(s) else shutil.copy)(s, os.path.join(dst, name))
    for c, cls in CLASSES.items():
        m = cls.from_pretrained(os.path.join(src, c), variant="fp16", torch_dtype=torch.float16)
        m.save_pretrained(os.path.join(dst, c), variant="fp16", safe_serialization=False)
        back = cls.from_pretrained(os.path.join(dst, c), variant="fp16", torch_dtype=torch.float16,
                                   use_safetensors=False)
        a, b = m.state_dict(), back.state_dict()
        if a.keys() != b.keys() or any(not torch.equal(a[k], b[k]) for k in a):
            raise SystemExit("%s: the .bin round trip differs" % c)
        report[c] = sorted(os.listdir(os.path.join(dst, c)))

    legacy = os.path.join(out, "legacy", "text_encoder")
    os.makedirs(legacy)
    te = CLIPTextModel.from_pretrained(os.path.join(d, "tiny-sd2", "text_encoder"))
    shutil.copy(os.path.join(d, "tiny-sd2", "text_encoder", "config.json"), legacy)
    path = os.path.join(legacy, "pytorch_model.bin")
    torch.save(te.state_dict(), path, _use_new_zipfile_serialization=False)
    loaded = torch.load(path)
    if any(not torch.equal(loaded[k], v) for k, v in te.state_dict().items()):
        raise SystemExit("legacy text encoder differs after torch.load")
    with open(path, "rb") as f:
        report["legacy_is_zip"] = f.read(2) == b"PK"

    hostile = os.path.join(out, "hostile", "unet")
    os.makedirs(hostile)
    shutil.copy(os.path.join(d, "tiny-sd2", "unet", "config.json"), hostile)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        # Fixed entry dates, so the file is the same on every run.
        z.writestr(zipfile.ZipInfo("archive/data.pkl", (1980, 1, 1, 0, 0, 0)),
                   pickle.dumps({"conv_in.weight": Hostile()}, protocol=2))
        z.writestr(zipfile.ZipInfo("archive/version", (1980, 1, 1, 0, 0, 0)), "3\n")
    with open(os.path.join(hostile, "diffusion_pytorch_model.bin"), "wb") as f:
        f.write(buf.getvalue())
    report["hostile_pickle_global"] = "posix.system"
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
