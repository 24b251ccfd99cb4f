#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every element of the rip plugin, and each property it defines, is
documented in docs/elements.md, and gst-inspect shows a real description for
every element, pad template and property."""
import os
import re
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GObject, Gst  # noqa: E402


def main(root):
    Gst.init(None)
    doc = open(os.path.join(root, "docs", "elements.md")).read()
    if Gst.Registry.get().find_plugin("rip") is None:
        print("FAIL: plugin rip not found")
        return 1
    problems = []
    # ripsd (sdinpaint) exists where gst-rip was built with libtorch.
    features = [f for plugin in ("rip", "ripsd")
                for f in Gst.Registry.get().get_feature_list_by_plugin(plugin)]
    names = sorted(f.get_name() for f in features
                   if isinstance(f, Gst.ElementFactory))
    for name in names:
        factory = Gst.ElementFactory.find(name)
        if not re.search(rf"^## {name}$", doc, re.M):
            problems.append(f"{name}: no section in docs/elements.md")
        desc = factory.get_metadata("description") or ""
        if len(desc) < 30:
            problems.append(f"{name}: description too short: {desc!r}")
        for tmpl in factory.get_static_pad_templates():
            caps = tmpl.get_caps()
            if caps.is_any() or caps.is_empty():
                problems.append(f"{name}: pad {tmpl.name_template} has no "
                                "real caps")
        element = factory.create(None)
        for p in element.list_properties():
            if p.owner_type != element.__gtype__:
                continue
            if f"`{p.name}`" not in doc:
                problems.append(f"{name}: property {p.name} not in "
                                "docs/elements.md")
            if p.value_type.fundamental == GObject.TYPE_ENUM:
                # Every value gst-inspect lists is named in the element's
                # section of the docs.
                section = doc.split(f"## {name}\n", 1)[-1].split("\n## ", 1)[0]
                row = next((line for line in section.splitlines()
                            if line.startswith(f"| `{p.name}`")), "")
                if "| enum |" not in row:
                    problems.append(f"{name}: property {p.name} is an enum but "
                                    "docs/elements.md does not say so")
                for v in p.enum_class.__enum_values__.values():
                    if f"`{v.value_nick}`" not in row:
                        problems.append(f"{name}: {p.name} value {v.value_nick} "
                                        "not in docs/elements.md")
            if len(p.blurb or "") < 20 or p.blurb == p.nick:
                problems.append(f"{name}: property {p.name} has no real "
                                f"description: {p.blurb!r}")
    for p in problems:
        print("FAIL:", p)
    print(f"{len(names)} elements checked, {len(problems)} problems")
    return 1 if problems or not names else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
