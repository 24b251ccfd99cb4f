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
    # more edge cases (added for the C++ tokenizer's tests): case mapping as
    # Python's str.lower() does it (Final_Sigma, U+0130, Roman numerals,
    # circled letters, titlecase), BasicTokenizer's cleanup (controls, format
    # and private-use characters, characters unassigned in Python's Unicode
    # 14.0, separators), NFC, CJK spacing, scripts, digits, punctuation runs,
    # contractions, "!" (SD2's pad token), added tokens, and the 75/76-token
    # truncation boundary.
    "\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3 \u03a3 \u0391\u03a3. \u03a3\u0391 A\u03a3'b "
    "\u0391\u0301\u03a3\u0301 \u03a3\u24b6 \u03b1\u03a3\u1d2c",
    "\u0130stanbul I\u0131 STRASSE Stra\u00dfe \u01c5 \u01c8 \u1fbc \u13a0\u13a1 \u1c90\u1c91",
    "\u2160 \u216b \u24b6\u24cf \u00bd \u00b2 \u0661\u0662\u0663 \uff21\uff22\uff23 \U0001d400 \u212a",
    "cafe\u0301 e\u0301te\u0301 \u1e9b\u0323 \ufb01ne \u2126",
    "a\x00b\x07c\u200bd\ufeffe\ufffdf\ue000g\U000e0001h \U0001fa77 \U0001f6dc x\u0378y",
    "\u2028line\u2029para\x0bv\x0cf\x1cs\x85n \u1680o\u2009p\u202fq\u205fr \r\n\t",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd "
    "\u3053\u3093\u306b\u3061\u306f \u30ab\u30bf\u30ab\u30ca \u4f60\u597d\u4e16\u754c\uff01 "
    "\uc548\ub155\ud558\uc138\uc694 \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35 \U00020000x",
    "\U0001f44d\U0001f3fd \U0001f468\u200d\U0001f469\u200d\U0001f467 \u2764\ufe0f \U0001f1eb\U0001f1f7",
    "a--b...c!?d (paren) [brack] {brace} #tag @me $100 50% a&b ~x^y_z `q` \"quoted\" \u00abguil\u00bb \u2026",
    "DON'T IT'S WE'LL THEY'RE I'VE I'M HE'D 's's rock'n'roll l'amour o'clock it\u2019s x'S",
    "hello!!! world ! ! ! !a! a!b !? ?! \u00a1hola!",
    "<|STARTOFTEXT|>x x<|endoftext|>y <|endoftext|><|endoftext|> <|startoftext| !<|startoftext|> "
    "<|startoftext|><|endoftext|!",
    "supercalifragilisticexpialidocious " + "a" * 60 + " pneumonoultramicroscopicsilicovolcanoconiosis",
    "h2o 3d 1st 2nd 10000000 3.14159 -5 1e10 0x1F \u2153 12:30",
    "a " * 74,
    "a " * 75,
    "a " * 76,
    "painting, " * 40,
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
