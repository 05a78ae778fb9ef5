#!/usr/bin/env python3
"""deploy/k8s/make-policies.py: the ConfigMap acsd-policies from a policy tree.

    deploy/k8s/make-policies.py [DIR] > deploy/k8s/policies.yaml

DIR (default: the project's policies/) holds provisions/, presets/, alarms/,
jobs/ and virtual/. A ConfigMap key cannot contain '/', so presets/default.lua
becomes the key presets.default.lua; the Deployment's configMap volume
(acsd.yaml) maps each key back to its path with `items`, and prints the items
it needs on stderr. tests/deploy/test_k8s_manifests.py checks that
policies.yaml and the Deployment's items match policies/.
"""
import os
import sys

SUBDIRS = ("provisions", "presets", "alarms", "jobs", "virtual")


def policy_files(root):
    """[(key, path relative to root, text)] of every .lua file, sorted."""
    out = []
    for sub in SUBDIRS:
        d = os.path.join(root, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if name.endswith(".lua"):
                with open(os.path.join(d, name), encoding="utf-8") as f:
                    out.append(("%s.%s" % (sub, name), "%s/%s" % (sub, name), f.read()))
    return out


def render(files):
    lines = ["# deploy/k8s/policies.yaml: the example policies (policies/) as the ConfigMap",
             "# acsd-policies. Made by deploy/k8s/make-policies.py; do not edit by hand.",
             "apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: acsd-policies",
             "data:"]
    for key, _, text in files:
        lines.append("  %s: |" % key)
        for line in text.splitlines():
            lines.append(("    " + line) if line else "")
    return "\n".join(lines) + "\n"


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    root = argv[1] if len(argv) > 1 else os.path.join(here, "..", "..", "policies")
    files = policy_files(root)
    if not files:
        print("make-policies: no .lua files under %s" % root, file=sys.stderr)
        return 1
    for text in (f[2] for f in files):
        if text and not text.endswith("\n"):
            print("make-policies: a file does not end in a newline", file=sys.stderr)
            return 1
    sys.stdout.write(render(files))
    for key, path, _ in files:
        print("              - key: %s\n                path: %s" % (key, path), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
