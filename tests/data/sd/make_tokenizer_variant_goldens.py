#!/usr/bin/env python3
"""Tokenizer goldens for tokenizer *folders* other than the tiny models' own:
how transformers' slow CLIPTokenizer reads the files (which special tokens,
which pad token, which merge lines), not only how it splits text.

Run inside the harness environment:
    tests/data/sd/harness_python.sh tests/data/sd/make_tokenizer_variant_goldens.py MODELDIR OUT.json

MODELDIR is tiny-sd2: every variant starts from its tokenizer/vocab.json (copied
byte for byte) and tokenizer/merges.txt (its lines). Each variant's recipe is
stored in OUT.json so that a test can rebuild exactly the same folder:

OUT.json = { variant: {
    "recipe": {
      "tokenizer_config": text of tokenizer_config.json, or null (no file),
      "special_tokens_map": text of special_tokens_map.json, or null,
      "merges_filler_until": N (0: none) - after tiny-sd2's merges.txt lines,
                             append "x<k> y<k>" (k = line index) until the file
                             has N lines, so the next line has index N
                             (index 0 is the "#version" line; rank = index - 1),
      "merges_append": [lines appended after that],
      "merges_newline": "\\n" or "\\r\\n" (merges.txt is written as
                        newline.join(lines) + newline)
    },
    "pad_id": ..., "bos_id": ..., "eos_id": ..., "model_max_length": ... (null when transformers
              has no limit: VERY_LARGE_INTEGER),
    "cases": { prompt: {"input_ids": [...] (only with a model_max_length),
                        "untruncated_ids": [...], "tokens": [...]} }
} }
"""
import json
import os
import shutil
import sys
import tempfile

import ref as H  # harness module (see harness_python.sh)

H.patch_addedtoken_fallback()
from transformers import CLIPTokenizer  # noqa: E402

# stabilityai/stable-diffusion-2-inpainting's tokenizer files have this shape
# (written by an older transformers): no added_tokens_decoder, AddedToken dicts
# with "__type", pad "<|endoftext|>" in tokenizer_config.json but "!" in
# special_tokens_map.json - the latter wins. Reconstructed from the spec
# (shared/reference/sd2-inpaint-spec.md 1.6), not downloaded.
LEGACY_CONFIG = json.dumps({
    "add_prefix_space": False,
    "bos_token": {"__type": "AddedToken", "content": "<|startoftext|>", "lstrip": False,
                  "normalized": True, "rstrip": False, "single_word": False},
    "do_lower_case": True,
    "eos_token": {"__type": "AddedToken", "content": "<|endoftext|>", "lstrip": False,
                  "normalized": True, "rstrip": False, "single_word": False},
    "errors": "replace",
    "model_max_length": 77,
    "name_or_path": "stabilityai/stable-diffusion-2-inpainting",
    "pad_token": "<|endoftext|>",
    "special_tokens_map_file": "./special_tokens_map.json",
    "tokenizer_class": "CLIPTokenizer",
    "unk_token": {"__type": "AddedToken", "content": "<|endoftext|>", "lstrip": False,
                  "normalized": True, "rstrip": False, "single_word": False},
}, indent=2)
LEGACY_MAP = json.dumps({
    "bos_token": {"content": "<|startoftext|>", "lstrip": False, "normalized": True,
                  "rstrip": False, "single_word": False},
    "eos_token": {"content": "<|endoftext|>", "lstrip": False, "normalized": True,
                  "rstrip": False, "single_word": False},
    "pad_token": "!",
    "unk_token": {"content": "<|endoftext|>", "lstrip": False, "normalized": True,
                  "rstrip": False, "single_word": False},
}, indent=2)


def added(content, special, lstrip=False, rstrip=False, single_word=False):
    return {"content": content, "lstrip": lstrip, "normalized": not special, "rstrip": rstrip,
            "single_word": single_word, "special": special}


# Extra added tokens (as a fine-tuned tokenizer might have): strip flags,
# single_word, and overlapping contents that exercise the trie's lookahead.
EXTRA_CONFIG = json.dumps({
    "added_tokens_decoder": {
        "0": added("!", True),
        "992": added("<|startoftext|>", True),
        "993": added("<|endoftext|>", True),
        "994": added("sks", False, lstrip=True, rstrip=True),
        "995": added("<x>", False, single_word=True),
        "996": added("ab", False),
        "997": added("abc", False),
        "998": added("bcd", False),
        "999": added("paint", False),
    },
    "bos_token": "<|startoftext|>",
    "eos_token": "<|endoftext|>",
    "model_max_length": 77,
    "pad_token": "!",
    "tokenizer_class": "CLIPTokenizer",
    "unk_token": "<|endoftext|>",
}, indent=2)

SHORT_CONFIG = json.dumps({"model_max_length": 12, "pad_token": "<|endoftext|>"}, indent=2)

PROMPTS = [
    "",
    "a painting of a starry night",
    "hello!!! world",
    "starry starry starry",
    "painting in the inn, interesting",
    "a sks dog ,  sks  cat sks",
    "x<x>y <x> z <x>",
    "abcd abc bcd xabcdx ab",
    "a painting of the starry night over a quiet village with swirling clouds",
]


def recipe(config=None, smap=None, filler=0, append=(), newline="\n"):
    return {"tokenizer_config": config, "special_tokens_map": smap, "merges_filler_until": filler,
            "merges_append": list(append), "merges_newline": newline}


def variants(base_merges):
    n = 49152 - 256 - 2  # last merges.txt line index transformers reads
    first_merge = base_merges[1]
    return {
        # the real SD2 repo's file layout: pad "!" from special_tokens_map.json
        "legacy_sd2_layout": recipe(LEGACY_CONFIG, LEGACY_MAP),
        # the same tokenizer_config.json without special_tokens_map.json: pad <|endoftext|>
        "legacy_config_only": recipe(LEGACY_CONFIG, None),
        # no tokenizer_config.json, no special_tokens_map.json: class defaults
        "no_config": recipe(None, None),
        "short_max_length": recipe(SHORT_CONFIG, None),
        "extra_added_tokens": recipe(EXTRA_CONFIG, None),
        # "star ry</w>" on the last line transformers reads: used ("starry</w>" is not in
        # the vocab, so it becomes unk)
        "merge_on_last_read_line": recipe(LEGACY_CONFIG, LEGACY_MAP, filler=n, append=["star ry</w>"]),
        # ... and one line later: ignored
        "merge_after_last_read_line": recipe(LEGACY_CONFIG, LEGACY_MAP, filler=n + 1,
                                             append=["star ry</w>"]),
        # CRLF line ends, a blank line, a malformed line, and the first merge repeated at the
        # end (a repeated pair keeps its last rank)
        "merges_crlf_duplicate": recipe(LEGACY_CONFIG, LEGACY_MAP, newline="\r\n",
                                        append=["", "one two three", first_merge]),
    }


def build(dst, src_tok, base_merges, r):
    os.makedirs(dst)
    shutil.copyfile(os.path.join(src_tok, "vocab.json"), os.path.join(dst, "vocab.json"))
    lines = list(base_merges)
    k = len(lines)
    while len(lines) < r["merges_filler_until"]:
        lines.append("x%d y%d" % (k, k))
        k += 1
    lines += r["merges_append"]
    nl = r["merges_newline"]
    with open(os.path.join(dst, "merges.txt"), "w", encoding="utf-8", newline="") as f:
        f.write(nl.join(lines) + nl)
    for name, key in (("tokenizer_config.json", "tokenizer_config"),
                      ("special_tokens_map.json", "special_tokens_map")):
        if r[key] is not None:
            with open(os.path.join(dst, name), "w", encoding="utf-8") as f:
                f.write(r[key])


def fmt(obj, depth=0):
    """JSON with one key per line and every list on one line (readable diffs)."""
    if isinstance(obj, dict) and obj:
        pad = "  " * (depth + 1)
        items = ["%s%s: %s" % (pad, json.dumps(k, ensure_ascii=False), fmt(v, depth + 1))
                 for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * depth + "}"
    return json.dumps(obj, ensure_ascii=False)


def main():
    modeldir, out = sys.argv[1], sys.argv[2]
    src_tok = os.path.join(modeldir, "tokenizer")
    with open(os.path.join(src_tok, "merges.txt"), encoding="utf-8") as f:
        base_merges = f.read().split("\n")
    while base_merges and base_merges[-1] == "":
        base_merges.pop()
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, r in variants(base_merges).items():
            dst = os.path.join(tmp, name)
            build(dst, src_tok, base_merges, r)
            tok = CLIPTokenizer.from_pretrained(dst)
            limited = tok.model_max_length < 10**6
            cases = {}
            for p in PROMPTS:
                un = tok(p).input_ids
                case = {}
                if limited:
                    case["input_ids"] = tok(p, padding="max_length", max_length=tok.model_max_length,
                                            truncation=True).input_ids
                case["untruncated_ids"] = un
                case["tokens"] = tok.convert_ids_to_tokens(un)
                cases[p] = case
            res[name] = {"recipe": r, "pad_id": tok.pad_token_id, "bos_id": tok.bos_token_id,
                         "eos_id": tok.eos_token_id,
                         "model_max_length": tok.model_max_length if limited else None,
                         "cases": cases}
    text = fmt(res) + "\n"
    assert json.loads(text) == res
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)
    print(json.dumps({k: [v["pad_id"], v["model_max_length"]] for k, v in res.items()}))


if __name__ == "__main__":
    main()
