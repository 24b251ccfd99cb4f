#!/usr/bin/env python3
"""Print the values test_weights.cpp pins for the committed tiny models, read
with an independent reader (struct + json + numpy, not our C++ code and not the
safetensors package): shape, the first four values as exact hex floats, and
the float64 sum of every value.

Run: /usr/bin/python3 tests/sd/io/pin_values.py   (any Python 3 with numpy)
"""
import json
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "data", "sd")
DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None, "I64": np.int64}

CASES = [
    ("tiny-sd2/unet/diffusion_pytorch_model.safetensors",
     ["conv_in.weight", "time_embedding.linear_1.bias",
      "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight", "conv_out.bias"]),
    ("tiny-sd2-fp16/unet/diffusion_pytorch_model.fp16.safetensors",
     ["conv_in.weight", "time_embedding.linear_1.bias"]),
    ("tiny-sd2/text_encoder/model.safetensors",
     ["text_model.embeddings.token_embedding.weight"]),
]


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    return data, 8 + n, header


def main():
    for rel, names in CASES:
        data, start, header = read(os.path.join(DATA, rel))
        print(rel, "tensors:", len([k for k in header if k != "__metadata__"]))
        for name in names:
            e = header[name]
            b, end = e["data_offsets"]
            a = np.frombuffer(data[start + b:start + end], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
            flat = a.reshape(-1).astype(np.float32)
            print("  %s %s %s first=[%s] sum=%s" % (
                name, e["dtype"], e["shape"], ", ".join(float(v).hex() for v in flat[:4]),
                repr(float(a.astype(np.float64).sum()))))


if __name__ == "__main__":
    main()
