#!/usr/bin/env python3
"""Tokenizer goldens: transformers' slow CLIPTokenizer (the reference) called
exactly as StableDiffusionPipeline.encode_prompt calls it.

Run inside the harness environment:
    tests/data/sd/harness_python.sh tests/data/sd/make_tokenizer_goldens.py MODELDIR OUT.json

OUT.json = { prompt: {"input_ids": [77 ids], "untruncated_ids": [...], "tokens": [...]} , ... }
  input_ids       = tok(prompt, padding="max_length", max_length=tok.model_max_length (77),
                        truncation=True).input_ids                       (what the text encoder gets)
  untruncated_ids = tok(prompt, padding="longest").input_ids             (encode_prompt's warning check;
                                                                          for one prompt: no padding)
  tokens          = tok.convert_ids_to_tokens(untruncated_ids)
Keys keep file order (the PROMPTS list below); the file is UTF-8 JSON (ensure_ascii=False).
"""
import json
import sys

import ref as H  # harness module (see harness_python.sh)

H.patch_addedtoken_fallback()  # the harness's fix for transformers' no-`tokenizers` AddedToken
from transformers import CLIPTokenizer  # noqa: E402

WORDS = ("a painting of the starry night over a quiet village with swirling clouds bright stars "
         "and a tall cypress tree in the foreground oil on canvas").split()
LONG = " ".join(WORDS[i % len(WORDS)] for i in range(120))  # 120 words -> truncated at 77 tokens

PROMPTS = [
    "",
    "a painting of a starry night",
    "Hello, World! It's 3:45pm...",
    "caf\u00e9 d\u00e9j\u00e0 vu \u2014 na\u00efve",
    LONG,
    "  multiple   spaces\tand\nnewlines  ",
    "!!!",
    # extra edge cases
    "A PAINTING Of A Starry NIGHT",
    "we're painting; they've done it, don't stop, she'll go, I'd say, I'm here",
    "4k 8k 1920x1080 3.14 #1 @user 100%",
    "\U0001F431 \u732B \u2615 cat",
    "<|startoftext|>hi<|endoftext|>",
    "a\u00a0b\u3000c",
]


def main():
    modeldir, out = sys.argv[1], sys.argv[2]
    tok = CLIPTokenizer.from_pretrained(modeldir, subfolder="tokenizer")
    res = {}
    for p in PROMPTS:
        ids = tok(p, padding="max_length", max_length=tok.model_max_length, truncation=True).input_ids
        un = tok(p, padding="longest").input_ids
        res[p] = {"input_ids": ids, "untruncated_ids": un, "tokens": tok.convert_ids_to_tokens(un)}
    # one prompt per block, lists on one line each
    lines = ["{"]
    for i, (p, v) in enumerate(res.items()):
        lines.append("  %s: {" % json.dumps(p, ensure_ascii=False))
        lines.append("    \"input_ids\": %s," % json.dumps(v["input_ids"]))
        lines.append("    \"untruncated_ids\": %s," % json.dumps(v["untruncated_ids"]))
        lines.append("    \"tokens\": %s" % json.dumps(v["tokens"], ensure_ascii=False))
        lines.append("  }" + ("," if i + 1 < len(res) else ""))
    lines.append("}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == res
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)
    print(json.dumps({p[:40]: len(v["untruncated_ids"]) for p, v in res.items()}, ensure_ascii=False))


if __name__ == "__main__":
    main()
