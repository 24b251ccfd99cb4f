#!/usr/bin/env python3
"""Extra text-encoder goldens: transformers' CLIPTextModel on a batch of four
prompts, in float32 and in bfloat16 (the model converted with .to(bfloat16), as
a user's torch_dtype=torch.bfloat16 does; fp16 has no CPU kernels in torch 1.13).

Run inside the harness environment (single-threaded, like every golden):
    HARNESS_THREADS=1 tests/data/sd/harness_python.sh tests/data/sd/make_text_extra_goldens.py MODELDIR OUT.safetensors

Keys: input_ids i64 [4,77] (tokenizer exactly as encode_prompt calls it, prompts below),
      last_hidden_state f32 [4,77,H], pooler_output f32 [4,H]                  (float32 model)
      bf16.last_hidden_state, bf16.pooler_output: the bfloat16 model's outputs, stored as
      float32 (exact: every bfloat16 is a float32).
Metadata "harness": {"prompts": [...]}.
"""
import json
import sys

import ref as H  # harness module (see harness_python.sh)

H.patch_addedtoken_fallback()
torch = H.setup_torch()
from transformers import CLIPTextModel, CLIPTokenizer  # noqa: E402

WORDS = ("a painting of the starry night over a quiet village with swirling clouds bright stars "
         "and a tall cypress tree in the foreground oil on canvas").split()
PROMPTS = [
    "",
    "a painting of a starry night",
    " ".join(WORDS[i % len(WORDS)] for i in range(120)),  # truncated: no pad position
    "hello!!! world",
]


def main():
    modeldir, out = sys.argv[1], sys.argv[2]
    tok = CLIPTokenizer.from_pretrained(modeldir, subfolder="tokenizer")
    te = CLIPTextModel.from_pretrained(modeldir, subfolder="text_encoder")
    te.eval()
    ids = tok(PROMPTS, padding="max_length", max_length=tok.model_max_length, truncation=True,
              return_tensors="pt").input_ids
    res = {"input_ids": ids}
    o = te(ids)
    res["last_hidden_state"], res["pooler_output"] = o[0], o[1]
    te16 = te.to(torch.bfloat16)
    o = te16(ids)
    res["bf16.last_hidden_state"], res["bf16.pooler_output"] = o[0].float(), o[1].float()
    H.save_tensors(out, res, metadata={"harness": {"prompts": PROMPTS}})
    d = (res["bf16.last_hidden_state"] - res["last_hidden_state"]).abs().max().item()
    print(json.dumps({"out": out, "shape": list(res["last_hidden_state"].shape),
                      "bf16_vs_fp32_max_abs": d}))


if __name__ == "__main__":
    main()
