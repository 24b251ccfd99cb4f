#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks that arrows point down only (docs/architecture.md).

Every #include "..." of lib/, plugins/ and tools/ is matched against the
layer rules below; an include of a higher layer, of a sibling component, of
GStreamer from lib/, or of plugins/ from lib/ is an upward or sideways
arrow. Prints each offence with its file and line and exits 1, else 0.
"""

import os
import re
import sys

# What each part of the tree may include from the project ("rip/<comp>/..."
# and "rip/error.h"). The order of the layers: io -> core -> {sd, lpips}
# (peers that never see each other) -> plugins -> tools.
ALLOWED = {
    "lib/rip/io": {"io"},
    "lib/rip/core": {"io", "core"},
    "lib/rip/sd": {"io", "core", "sd"},
    "lib/rip/lpips": {"io", "core", "lpips"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')


def component(path):
    """'rip/io/x.h' -> 'io'; 'rip/error.h' -> 'base'; else None."""
    parts = path.split("/")
    if parts[0] != "rip":
        return None
    return parts[1] if len(parts) > 2 else "base"


def check(root):
    offences = []
    for top in ("lib", "plugins", "tools"):
        for folder, _, files in os.walk(os.path.join(root, top)):
            for name in files:
                if not name.endswith((".h", ".cpp")):
                    continue
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, root)
                allowed = next((v for k, v in ALLOWED.items()
                                if rel.startswith(k + "/")), None)
                with open(path, encoding="utf-8") as f:
                    for number, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        inc = m.group(1)
                        where = f"{rel}:{number}: #include {inc}"
                        if rel.startswith("lib/"):
                            if inc.startswith(("gst/", "glib-object.h")):
                                offences.append(f"{where}: lib/ knows nothing of GStreamer")
                            comp = component(inc)
                            if comp and comp != "base" and comp not in allowed:
                                offences.append(f"{where}: {rel.split('/')[2]} may include "
                                                f"only {', '.join(sorted(allowed))}")
                            if inc.startswith(("plugins/", "../")) or "gst" in os.path.basename(inc):
                                offences.append(f"{where}: lib/ never includes plugins/")
    return offences


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.getcwd()
    offences = check(root)
    for o in offences:
        print(o)
    if offences:
        print(f"{len(offences)} include(s) point up or sideways: see docs/architecture.md")
        return 1
    print("layers: every include points down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
