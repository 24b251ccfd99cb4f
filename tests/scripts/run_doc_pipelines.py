#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Runs every gst-launch-1.0 line in README.md and docs/*.md as written.

A line is a shell code block's command that starts with gst-launch-1.0
(with its backslash continuations). Each runs in a fresh folder under a
deadline and must end with EOS. Lines that name an element this GStreamer
does not have (e.g. sdinpaint without its plugin) are reported as skipped.
"""
import glob
import os
import re
import subprocess
import sys
import tempfile


def commands(path):
    text = open(path).read()
    for block in re.findall(r"```(?:sh|bash|shell)\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            if line.startswith("gst-launch-1.0"):
                yield line


def main(root):
    files = [os.path.join(root, "README.md")] + sorted(
        glob.glob(os.path.join(root, "docs", "*.md")))
    ran = failed = skipped = 0
    for path in files:
        if not os.path.exists(path):
            continue
        for cmd in commands(path):
            name = os.path.relpath(path, root)
            elements = set(re.findall(r"(?:^|!)\s*([a-z0-9]+)(?=\s|$)", cmd))
            missing = [e for e in elements if subprocess.run(
                ["gst-inspect-1.0", e], capture_output=True).returncode != 0]
            if missing:
                print(f"SKIP {name}: needs {', '.join(missing)}: {cmd[:80]}")
                skipped += 1
                continue
            with tempfile.TemporaryDirectory() as d:
                # Lines written for the repository root (tiny test models
                # under tests/) find them through a link.
                os.symlink(os.path.join(root, "tests"), os.path.join(d, "tests"))
                try:
                    r = subprocess.run(cmd, shell=True, cwd=d, timeout=300,
                                       capture_output=True, text=True)
                    ok = r.returncode == 0 and "Got EOS" in r.stdout
                    out = r.stdout + r.stderr
                except subprocess.TimeoutExpired:
                    ok, out = False, "timed out after 300 s"
            ran += 1
            status = "ok  " if ok else "FAIL"
            print(f"{status} {name}: {cmd[:100]}")
            if not ok:
                failed += 1
                print(out[-2000:])
    print(f"{ran} doc pipelines run, {failed} failed, {skipped} skipped")
    if ran == 0:
        print("FAIL: no gst-launch lines found in the docs")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
