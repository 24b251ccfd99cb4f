#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Bad input, tried as a user would: every case in cases.toml must fail with
its clear message, in time, with a non-zero exit.

    run_cases.py CASES.toml [NAME-FRAGMENT...]

Each case is a shell command run in a fresh folder that holds the broken
files below (made here, at test time). A case passes when the command
exits non-zero (or with the exit it names), within its timeout, every one
of its `repeat` runs, with output that matches `expect` and none of the
signs of a worse answer: a traceback, a GLib warning or critical, basesrc's
generic "failed to post a proper error message", a crash.
"""
import functools
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import tomllib
import zlib

IMAGE = "/usr/share/doc/opencv-doc/examples/data/starry_night.jpg"

# Output that means the answer was worse than a clear error.
WORSE = [
    ("a Python traceback", re.compile(r"Traceback \(most recent call last\)")),
    ("a GLib warning", re.compile(r"-WARNING \*\*")),
    ("a GLib critical", re.compile(r"-CRITICAL \*\*")),
    ("basesrc's generic message", re.compile(r"failed to post a proper error message")),
    ("a raw OpenCV assertion", re.compile(r"error: \(-215")),
    ("a placeholder in the message", re.compile(r"\(the pipeline description\)")),
    ("a crash", re.compile(r"Segmentation fault|Aborted|core dumped|terminate called")),
]


def png(path, width, height, value, channels=1):
    """A PNG of one grey (or RGB) value, written without any image library."""
    kind = {1: 0, 3: 2}[channels]
    row = b"\x00" + bytes([value]) * (width * channels)
    body = zlib.compress(row * height)

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data +
                struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, kind, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) +
                chunk(b"IEND", b""))


def make_files(folder, root):
    """The broken (and a few good) inputs the cases name."""
    with open(IMAGE, "rb") as f:
        jpeg = f.read()
    write = lambda name, data: open(os.path.join(folder, name), "wb").write(data)
    write("half.jpg", jpeg[: len(jpeg) // 2])
    write("text.png", b"this is not an image\n")
    write("empty.png", b"")
    png(os.path.join(folder, "good.png"), 256, 256, 128, channels=3)
    with open(os.path.join(folder, "good.png"), "rb") as f:
        good = f.read()
    write("cut.png", good[: len(good) // 2])
    # A PNG whose header claims 60000x60000: a few hundred bytes on disk.
    png(os.path.join(folder, "huge.png"), 60000, 1, 0)
    with open(os.path.join(folder, "huge.png"), "rb") as f:
        huge = bytearray(f.read())
    huge[16:24] = struct.pack(">II", 60000, 60000)
    huge[29:33] = struct.pack(">I", zlib.crc32(bytes(huge[12:29])) & 0xFFFFFFFF)
    write("huge.png", bytes(huge))
    png(os.path.join(folder, "mask-100.png"), 100, 100, 255)
    png(os.path.join(folder, "mask-black.png"), 256, 256, 0)
    os.mkdir(os.path.join(folder, "empty-folder"))
    write("afile", b"")
    # LPIPS weights that are not weights.
    os.mkdir(os.path.join(folder, "bad-weights"))
    for name in ("vgg16-397923af.pth", "vgg.pth"):
        write(os.path.join("bad-weights", name), b"PK\x03\x04 not a zip archive")
    # A diffusers folder whose UNet weights are cut at half their length.
    tiny = os.path.join(root, "tests", "data", "sd", "tiny-sd2")
    cut = os.path.join(folder, "tiny-sd2-cut")
    shutil.copytree(tiny, cut)
    unet = os.path.join(cut, "unet", "diffusion_pytorch_model.safetensors")
    size = os.path.getsize(unet)
    with open(unet, "r+b") as f:
        f.truncate(size // 2)
    # A study spec that is fine, for the cases about OUT.
    with open(os.path.join(folder, "ok.toml"), "w") as f:
        f.write('name = "t"\nmask_sizes = [128]\ninpaint = 0.5\nmetrics = ["ssim"]\n'
                '[images]\nfolder = "img"\nglob = "*.jpg"\nwidth = 256\nheight = 256\n')
    os.mkdir(os.path.join(folder, "img"))
    shutil.copy(IMAGE, os.path.join(folder, "img"))
    with open(os.path.join(folder, "broken.toml"), "w") as f:
        f.write('name = "t"\nmask_sizes = [\n')


@functools.cache  # several cases need the same element
def have_element(name):
    return subprocess.run(["gst-inspect-1.0", name], capture_output=True).returncode == 0


def run_case(case, env, folder):
    """None when the case holds, else what went wrong."""
    for attempt in range(case.get("repeat", 1)):
        try:
            p = subprocess.run(["bash", "-c", case["run"]], cwd=folder, env=env,
                               stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, errors="replace",
                               timeout=case.get("timeout", 60))
        except subprocess.TimeoutExpired:
            return f"run {attempt + 1}: no answer within {case.get('timeout', 60)} s (a hang)"
        out = p.stdout + p.stderr
        want = case.get("exit")
        if (want is None and p.returncode == 0) or (want is not None and p.returncode != want):
            return (f"run {attempt + 1}: exit {p.returncode}, expected "
                    f"{'non-zero' if want is None else want}\n{out}")
        if not re.search(case["expect"], out):
            return f"run {attempt + 1}: output lacks /{case['expect']}/\n{out}"
        for what, pattern in WORSE:
            if pattern.search(out):
                return f"run {attempt + 1}: {what}\n{out}"
    return None


def main(argv):
    if not os.path.isfile(IMAGE):
        print(f"SKIP: {IMAGE} missing (install opencv-doc)")
        return 77
    root = os.environ["RIP_SOURCE_ROOT"]
    build = os.environ["RIP_BUILD_ROOT"]
    with open(argv[1], "rb") as f:
        cases = tomllib.load(f)["case"]
    only = argv[2:]
    env = dict(os.environ, IMAGE=IMAGE, ROOT=root, BUILD=build,
               PY="/usr/bin/python3", LC_ALL="C.UTF-8")
    env.pop("GST_DEBUG", None)
    passed = failed = skipped = 0
    with tempfile.TemporaryDirectory() as folder:
        make_files(folder, root)
        for case in cases:
            name = case["name"]
            if only and not any(o in name for o in only):
                continue
            missing = [e for e in case.get("needs", []) if not have_element(e)]
            missing += [f for f in case.get("needs_built", [])
                        if not os.access(os.path.join(build, f), os.X_OK)]
            if missing:
                print(f"SKIP  {name}: no {', '.join(missing)} in this build")
                skipped += 1
                continue
            problem = run_case(case, env, folder)
            if problem is None:
                print(f"ok    {name}")
                passed += 1
            else:
                print(f"FAIL  {name}: {problem.strip()}")
                failed += 1
    print(f"bad-input: {passed} cases passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
