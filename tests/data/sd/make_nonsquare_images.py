#!/usr/bin/env python3
"""Non-square test image + mask (width 96, height 64) for the 64x96 inpaint golden.
Crops rows 16..79 of the harness's deterministic 96x96 pair
(`ref make-test-images DIR --size 96 --seed 0`), so the pipeline gets an image that
already has the requested size (its LANCZOS resize is then a no-op copy).

Run: tests/data/sd/harness_python.sh tests/data/sd/make_nonsquare_images.py SRC96DIR OUTDIR
writes OUTDIR/image_w96h64.png and OUTDIR/mask_w96h64.png.
"""
import os
import sys

from PIL import Image

src, out = sys.argv[1], sys.argv[2]
box = (0, 16, 96, 80)  # left, upper, right, lower
for name in ("image", "mask"):
    im = Image.open(os.path.join(src, name + ".png"))
    assert im.size == (96, 96), im.size
    c = im.crop(box)
    c.load()
    c.save(os.path.join(out, "%s_w96h64.png" % name))
    print(name, c.mode, c.size)
