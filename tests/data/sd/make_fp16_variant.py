#!/usr/bin/env python3
"""Write the fp16 variant of a tiny model with the reference library itself:
    pipe = StableDiffusionInpaintPipeline.from_pretrained(SRC)        # float32
    pipe.to(torch.float16)
    pipe.save_pretrained(DST, variant="fp16", safe_serialization=True)
giving unet/diffusion_pytorch_model.fp16.safetensors, vae/diffusion_pytorch_model.fp16.safetensors,
text_encoder/model.fp16.safetensors (plus the usual configs, tokenizer, scheduler, model_index.json).
Then checks that StableDiffusionInpaintPipeline.from_pretrained(DST, variant="fp16",
torch_dtype=torch.float16) gives back exactly the fp32 weights rounded to fp16 (.half()).

Run: tests/data/sd/harness_python.sh tests/data/sd/make_fp16_variant.py SRC DST

Workaround (same kind as the harness's own patch_addedtoken_fallback): without the Rust
`tokenizers` package, transformers 4.40's fallback AddedToken.__getstate__ returns the
object's own __dict__, and CLIPTokenizer.save_pretrained then pops "special" from it
(convert_added_tokens(save=True, add_type_field=False)), i.e. it mutates the token; the
second time the same token object is seen (bos/eos/unk/pad share objects) it raises
KeyError: 'special'.  The Rust class returns a fresh dict, so __getstate__ is made to
return a copy.  The re-saved tokenizer has byte-identical vocab.json / merges.txt /
tokenizer_config.json; special_tokens_map.json differs in form only (a token that was
loaded as an AddedToken, e.g. SD2's pad "!", is written as a {"content": ...} object
instead of a plain string; both forms are what transformers writes).  The script checks
that both tokenizers give the same ids.
"""
import json
import os
import sys

import ref as H

H.patch_addedtoken_fallback()
from transformers.utils import is_tokenizers_available  # noqa: E402

if not is_tokenizers_available():
    import transformers.tokenization_utils_base as _tub
    _tub.AddedToken.__getstate__ = lambda self: dict(self.__dict__)
torch = H.setup_torch()
from diffusers import StableDiffusionInpaintPipeline  # noqa: E402


def main():
    src, dst = sys.argv[1], sys.argv[2]
    pipe = StableDiffusionInpaintPipeline.from_pretrained(src)
    ref32 = {n: {k: v.clone() for k, v in getattr(pipe, n).state_dict().items()}
             for n in ("unet", "vae", "text_encoder")}
    pipe.to(torch.float16)
    pipe.save_pretrained(dst, variant="fp16", safe_serialization=True)
    back = StableDiffusionInpaintPipeline.from_pretrained(dst, variant="fp16", torch_dtype=torch.float16)
    report = {}
    for n, sd32 in ref32.items():
        sd = getattr(back, n).state_dict()
        bad = [k for k in sd32 if sd[k].dtype != torch.float16 or not torch.equal(sd[k], sd32[k].half())]
        if bad:
            raise SystemExit("%s: fp16 round trip differs for %s" % (n, bad[:5]))
        report[n] = {"tensors": len(sd), "dtype": "float16"}
    same = []
    for f in sorted(os.listdir(os.path.join(src, "tokenizer"))):
        a = open(os.path.join(src, "tokenizer", f), "rb").read()
        b = open(os.path.join(dst, "tokenizer", f), "rb").read()
        if a == b:
            same.append(f)
        elif f != "special_tokens_map.json":
            raise SystemExit("tokenizer/%s differs from the source model's" % f)
    report["tokenizer_files_byte_identical_to_src"] = same
    from transformers import CLIPTokenizer
    t0 = CLIPTokenizer.from_pretrained(src, subfolder="tokenizer")
    t1 = CLIPTokenizer.from_pretrained(dst, subfolder="tokenizer")
    for p in ("", "a painting of a starry night", "!!! Hello, World!", "caf\u00e9 <|endoftext|>"):
        a = t0(p, padding="max_length", max_length=77, truncation=True).input_ids
        b = t1(p, padding="max_length", max_length=77, truncation=True).input_ids
        if a != b or t0.pad_token_id != t1.pad_token_id:
            raise SystemExit("re-saved tokenizer tokenizes %r differently" % p)
    report["tokenizer_ids_identical_to_src"] = True
    files = {}
    for root, _, fs in os.walk(dst):
        for f in sorted(fs):
            p = os.path.join(root, f)
            files[os.path.relpath(p, dst)] = os.path.getsize(p)
    report["files"] = files
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
