#!/usr/bin/env python3
"""deploy/k8s/make-policies.py: the policies' ConfigMaps from a policy tree.

    deploy/k8s/make-policies.py [DIR] > deploy/k8s/policies.yaml

DIR (default: the project's policies/) holds provisions/, presets/, alarms/,
jobs/ and virtual/. A ConfigMap key cannot contain '/', so each subdirectory
is a ConfigMap of its own (acsd-policies-provisions, ...: a key per file) and
the Deployment (acsd.yaml) mounts each at /etc/acsd/policies/SUBDIR (nested
items paths would do on Kubernetes, but podman kube play cannot create their
directories). tests/deploy/test_k8s_manifests.py checks that policies.yaml
and the Deployment's volumes match policies/.
"""
import os
import sys

SUBDIRS = ("provisions", "presets", "alarms", "jobs", "virtual")


def policy_files(root):
    """[(subdirectory, file name, text)] of every .lua file, sorted."""
    out = []
    for sub in SUBDIRS:
        d = os.path.join(root, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if name.endswith(".lua"):
                with open(os.path.join(d, name), encoding="utf-8") as f:
                    out.append((sub, name, f.read()))
    return out


def configmap_name(sub):
    return "acsd-policies-" + sub


def render(files):
    lines = ["# deploy/k8s/policies.yaml: the example policies (policies/) as ConfigMaps, one",
             "# per subdirectory. Made by deploy/k8s/make-policies.py; do not edit by hand."]
    for sub in SUBDIRS:
        mine = [f for f in files if f[0] == sub]
        if not mine:
            continue
        lines += ["---", "apiVersion: v1", "kind: ConfigMap", "metadata:",
                  "  name: " + configmap_name(sub), "data:"]
        for _, name, text in mine:
            lines.append("  %s: |" % name)
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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
