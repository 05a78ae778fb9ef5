#!/usr/bin/env python3
"""Offline check of deploy/k8s/ (no cluster: kubectl cannot validate without one,
and podman kube play rejects type errors but not unknown fields).

    python3 tests/deploy/test_k8s_manifests.py

A schema of our own for every field the manifests use, taken from the
Kubernetes API reference (apps/v1 Deployment, v1 Service, ConfigMap, Secret,
autoscaling/v2 HorizontalPodAutoscaler, policy/v1 PodDisruptionBudget): an
unknown field, a wrong type or a missing required field fails. Then what ties
the documents together: the probes ask /ready (readiness) and /health
(liveness) on a declared port, the HPA aims at 70 % CPU of the Deployment, the
PodDisruptionBudget and the Services select the pods, every secretKeyRef and
secret item names a key of the Secret, the config file and the key are files
of the Secret's volume, and the policies ConfigMaps are exactly
policies/, one per subdirectory, each mounted where acsd reads it. The checker is shown to fail on broken
copies too. Needs python3-yaml; exits 77 (skipped) without it."""
import copy
import os
import sys

try:
    import yaml
except ImportError:
    print("SKIP: python3-yaml is not installed (apt-get install python3-yaml)")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
K8S = os.path.join(ROOT, "deploy", "k8s")
sys.path.insert(0, K8S)
import importlib.util  # noqa: E402

_spec = importlib.util.spec_from_file_location("make_policies", os.path.join(K8S, "make-policies.py"))
make_policies = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_policies)

# --- the schema: a type is str, int, bool, a dict {field: type} (fields
# ending in '!' are required), a list [type], "quantity" (str or int),
# "intstr" (int or str), ("map", type) for free-form keys, or ("enum", ...).
S, I, B = str, int, bool
QTY = "quantity"
INTSTR = "intstr"
LABELS = ("map", S)
META = {"name!": S, "labels": LABELS, "annotations": LABELS, "namespace": S}
SELECTOR = {"matchLabels": LABELS}
HTTPGET = {"path!": S, "port!": INTSTR, "scheme": ("enum", "HTTP", "HTTPS")}
PROBE = {"httpGet!": HTTPGET, "initialDelaySeconds": I, "periodSeconds": I,
         "timeoutSeconds": I, "failureThreshold": I, "successThreshold": I}
ENV = {"name!": S, "value": S,
       "valueFrom": {"secretKeyRef": {"name!": S, "key!": S},
                     "configMapKeyRef": {"name!": S, "key!": S},
                     "fieldRef": {"fieldPath!": S}}}
CONTAINER = {
    "name!": S, "image!": S, "imagePullPolicy": ("enum", "Always", "IfNotPresent", "Never"),
    "args": [S], "command": [S], "env": [ENV],
    "ports": [{"name": S, "containerPort!": I, "protocol": ("enum", "TCP", "UDP")}],
    "readinessProbe": PROBE, "livenessProbe": PROBE,
    "resources": {"requests": ("map", QTY), "limits": ("map", QTY)},
    "volumeMounts": [{"name!": S, "mountPath!": S, "readOnly": B}],
}
ITEMS = [{"key!": S, "path!": S}]
VOLUME = {"name!": S, "configMap": {"name!": S, "items": ITEMS},
          "secret": {"secretName!": S, "items": ITEMS, "optional": B}}
DEPLOYMENT = {
    "apiVersion!": ("enum", "apps/v1"), "kind!": S, "metadata!": META,
    "spec!": {"replicas": I, "selector!": SELECTOR,
              "strategy": {"type": ("enum", "RollingUpdate", "Recreate"),
                           "rollingUpdate": {"maxUnavailable": INTSTR, "maxSurge": INTSTR}},
              "template!": {"metadata": {"labels": LABELS},
                            "spec!": {"terminationGracePeriodSeconds": I,
                                      "containers!": [CONTAINER], "volumes": [VOLUME]}}},
}
SERVICE = {
    "apiVersion!": ("enum", "v1"), "kind!": S, "metadata!": META,
    "spec!": {"type": ("enum", "ClusterIP", "NodePort", "LoadBalancer"), "selector!": LABELS,
              "sessionAffinity": ("enum", "None", "ClientIP"),
              "ports!": [{"name": S, "port!": I, "targetPort": INTSTR,
                          "protocol": ("enum", "TCP", "UDP")}]},
}
HPA = {
    "apiVersion!": ("enum", "autoscaling/v2"), "kind!": S, "metadata!": META,
    "spec!": {"scaleTargetRef!": {"apiVersion": S, "kind!": S, "name!": S},
              "minReplicas": I, "maxReplicas!": I,
              "metrics": [{"type!": ("enum", "Resource"),
                           "resource": {"name!": S,
                                        "target!": {"type!": ("enum", "Utilization"),
                                                    "averageUtilization": I}}}]},
}
PDB = {"apiVersion!": ("enum", "policy/v1"), "kind!": S, "metadata!": META,
       "spec!": {"minAvailable": INTSTR, "maxUnavailable": INTSTR, "selector!": SELECTOR}}
CONFIGMAP = {"apiVersion!": ("enum", "v1"), "kind!": S, "metadata!": META, "data": ("map", S)}
SECRET = {"apiVersion!": ("enum", "v1"), "kind!": S, "metadata!": META,
          "type": ("enum", "Opaque"), "stringData": ("map", S), "data": ("map", S)}
KINDS = {"Deployment": DEPLOYMENT, "Service": SERVICE, "HorizontalPodAutoscaler": HPA,
         "PodDisruptionBudget": PDB, "ConfigMap": CONFIGMAP, "Secret": SECRET}


def validate(value, schema, path, errors):
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            errors.append("%s: expected an object, got %r" % (path, value))
            return
        fields = {k.rstrip("!"): v for k, v in schema.items()}
        for k in schema:
            if k.endswith("!") and k[:-1] not in value:
                errors.append("%s: required field %s missing" % (path, k[:-1]))
        for k, v in value.items():
            if k not in fields:
                errors.append("%s.%s: unknown field" % (path, k))
            else:
                validate(v, fields[k], "%s.%s" % (path, k), errors)
    elif isinstance(schema, list):
        if not isinstance(value, list):
            errors.append("%s: expected a list, got %r" % (path, value))
            return
        for i, v in enumerate(value):
            validate(v, schema[0], "%s[%d]" % (path, i), errors)
    elif isinstance(schema, tuple) and schema[0] == "map":
        if not isinstance(value, dict):
            errors.append("%s: expected a map, got %r" % (path, value))
            return
        for k, v in value.items():
            validate(v, schema[1], "%s[%s]" % (path, k), errors)
    elif isinstance(schema, tuple) and schema[0] == "enum":
        if value not in schema[1:]:
            errors.append("%s: %r is not one of %s" % (path, value, ", ".join(schema[1:])))
    elif schema in (QTY, INTSTR):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            errors.append("%s: expected a number or a string, got %r" % (path, value))
    elif schema is I:
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append("%s: expected an integer, got %r" % (path, value))
    elif not isinstance(value, schema):
        errors.append("%s: expected %s, got %r" % (path, schema.__name__, value))


def check_docs(docs, policies_root):
    """Every error found in the documents (a list; empty = all good)."""
    errors = []
    by_kind = {}
    for d in docs:
        kind = d.get("kind") if isinstance(d, dict) else None
        if kind not in KINDS:
            errors.append("a document of kind %r (known: %s)" % (kind, ", ".join(KINDS)))
            continue
        validate(d, KINDS[kind], "%s/%s" % (kind, d.get("metadata", {}).get("name")), errors)
        by_kind.setdefault(kind, []).append(d)
    if errors:
        return errors
    need = ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
            "ConfigMap", "Secret"]
    missing = [k for k in need if k not in by_kind]
    if missing:
        return ["no %s" % ", ".join(missing)]
    dep = by_kind["Deployment"][0]
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]

    def selects(sel, what):
        if not sel or any(pod_labels.get(k) != v for k, v in sel.items()):
            errors.append("%s selects %r, not the pods (%r)" % (what, sel, pod_labels))

    selects(dep["spec"]["selector"]["matchLabels"], "the Deployment")
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/health")):
        p = c.get(probe)
        if not p:
            errors.append("no %s" % probe)
            continue
        if p["httpGet"]["path"] != path:
            errors.append("%s asks %s, want %s" % (probe, p["httpGet"]["path"], path))
        port = p["httpGet"]["port"]
        if port not in ports and port not in ports.values():
            errors.append("%s: port %r is not a container port" % (probe, port))
        elif ports.get(port, port) != 7557:
            errors.append("%s: port %r is not the API port 7557" % (probe, port))
    for svc in by_kind["Service"]:
        name = svc["metadata"]["name"]
        selects(svc["spec"]["selector"], "Service " + name)
        for p in svc["spec"]["ports"]:
            t = p.get("targetPort", p["port"])
            if t not in ports and t not in ports.values():
                errors.append("Service %s: targetPort %r is no container port" % (name, t))
    hpa = by_kind["HorizontalPodAutoscaler"][0]["spec"]
    ref = hpa["scaleTargetRef"]
    if ref["kind"] != "Deployment" or ref["name"] != dep["metadata"]["name"]:
        errors.append("the HPA scales %s/%s, not the Deployment" % (ref["kind"], ref["name"]))
    cpu = [m["resource"]["target"].get("averageUtilization") for m in hpa.get("metrics", [])
           if m["resource"]["name"] == "cpu"]
    if cpu != [70]:
        errors.append("the HPA's CPU targets are %r, want [70]" % cpu)
    if hpa.get("minReplicas", 1) > hpa["maxReplicas"]:
        errors.append("the HPA's minReplicas is above maxReplicas")
    if "cpu" not in c.get("resources", {}).get("requests", {}):
        errors.append("no CPU request: the HPA's utilization has nothing to divide by")
    pdb = by_kind["PodDisruptionBudget"][0]["spec"]
    selects(pdb["selector"]["matchLabels"], "the PodDisruptionBudget")
    if isinstance(pdb.get("minAvailable"), int) and pdb["minAvailable"] >= hpa.get("minReplicas", 1):
        errors.append("the PodDisruptionBudget's minAvailable leaves no pod to evict")
    secrets = {s["metadata"]["name"]: set(s.get("stringData", {})) | set(s.get("data", {}))
               for s in by_kind["Secret"]}
    cms = {m["metadata"]["name"]: m.get("data", {}) for m in by_kind["ConfigMap"]}
    for e in c.get("env", []):
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref and ref["key"] not in secrets.get(ref["name"], ()):
            errors.append("env %s: no key %s in Secret %s" % (e["name"], ref["key"], ref["name"]))
    mounts = {m["name"] for m in c.get("volumeMounts", [])}
    for v in pod.get("volumes", []):
        if v["name"] not in mounts:
            errors.append("volume %s is not mounted" % v["name"])
        if "secret" in v:
            for it in v["secret"].get("items", []):
                if it["key"] not in secrets.get(v["secret"]["secretName"], ()):
                    errors.append("volume %s: no key %s in the Secret" % (v["name"], it["key"]))
    # the policies: a ConfigMap per subdirectory of policies/, each mounted
    # at /etc/acsd/policies/SUBDIR, holding exactly that directory's files
    mount_of = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    want = {}
    for sub, name, text in make_policies.policy_files(policies_root):
        want.setdefault(sub, {})[name] = text
    seen = set()
    for v in pod.get("volumes", []):
        if "configMap" not in v:
            continue
        cm = v["configMap"]["name"]
        data = cms.get(cm)
        if data is None:
            errors.append("volume %s: no ConfigMap %s" % (v["name"], cm))
            continue
        path = mount_of.get(v["name"], "")
        sub = path[len("/etc/acsd/policies/"):] if path.startswith("/etc/acsd/policies/") else None
        if sub not in want:
            errors.append("volume %s is mounted at %s, not a policies subdirectory" % (
                v["name"], path))
            continue
        seen.add(sub)
        if set(data) != set(want[sub]):
            errors.append("ConfigMap %s: files %s differ from policies/%s" % (
                cm, sorted(set(data) ^ set(want[sub])), sub))
        for name, text in want[sub].items():
            if name in data and data[name] != text:
                errors.append("ConfigMap %s: %s differs from policies/%s/%s (run "
                              "deploy/k8s/make-policies.py)" % (cm, name, sub, name))
    for sub in sorted(set(want) - seen):
        errors.append("policies/%s is in no ConfigMap mounted at /etc/acsd/policies/%s" % (
            sub, sub))
    if "--policies" not in c.get("args", []) or \
            c["args"][c["args"].index("--policies") + 1:][:1] != ["/etc/acsd/policies"]:
        errors.append("acsd is not given --policies /etc/acsd/policies")
    # the config file and the key come from the Secret's volume, where the
    # environment says they are
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    files = {}
    for v in pod.get("volumes", []):
        if "secret" in v:
            base = mount_of.get(v["name"], "")
            for it in v["secret"].get("items", []):
                files[base.rstrip("/") + "/" + it["path"]] = (v["secret"]["secretName"], it["key"])
    for var in ("ACS_CONFIG", "ACS_SECRET_KEY_FILE"):
        if env.get(var) not in files:
            errors.append("%s=%s is no file of a Secret volume" % (var, env.get(var)))
    conf = files.get(env.get("ACS_CONFIG"))
    if conf:
        text = next((s.get("stringData", {}).get(conf[1]) for s in by_kind["Secret"]
                     if s["metadata"]["name"] == conf[0]), None) or ""
        keys = [ln.split("=", 1)[0].strip() for ln in text.splitlines()
                if ln.strip() and not ln.lstrip().startswith("#")]
        if "pg" not in keys:
            errors.append("the config file in the Secret has no pg line")
    return errors


def load():
    docs = []
    for name in sorted(os.listdir(K8S)):
        if name.endswith(".yaml"):
            with open(os.path.join(K8S, name), encoding="utf-8") as f:
                docs += [d for d in yaml.safe_load_all(f) if d is not None]
    return docs


def main():
    policies = os.path.join(ROOT, "policies")
    docs = load()
    errors = check_docs(docs, policies)
    for e in errors:
        print("FAIL: deploy/k8s: %s" % e)
    if errors:
        return 1
    print("ok: %d documents in deploy/k8s pass the schema and cross-checks" % len(docs))

    # the checker must catch what it claims to: each broken copy fails
    def dep(ds):
        return next(d for d in ds if d["kind"] == "Deployment")

    def broken(desc, mutate, expect):
        ds = copy.deepcopy(docs)
        mutate(ds)
        errs = check_docs(ds, policies)
        if not any(expect in e for e in errs):
            print("FAIL: a copy with %s passed the check (errors: %r)" % (desc, errs))
            return 1
        print("ok: a copy with %s fails: %s" % (desc, next(e for e in errs if expect in e)))
        return 0

    c0 = lambda ds: dep(ds)["spec"]["template"]["spec"]["containers"][0]  # noqa: E731
    bad = 0
    bad += broken("an unknown field (readinessProbe.httpGet.pth)",
                  lambda ds: c0(ds)["readinessProbe"]["httpGet"].update(pth="/ready"),
                  "unknown field")
    bad += broken("a string for an integer (replicas: \"3\")",
                  lambda ds: dep(ds)["spec"].update(replicas="3"), "expected an integer")
    bad += broken("liveness on /ready",
                  lambda ds: c0(ds)["livenessProbe"]["httpGet"].update(path="/ready"),
                  "livenessProbe asks /ready")
    bad += broken("the HPA at 80 %",
                  lambda ds: next(d for d in ds if d["kind"] == "HorizontalPodAutoscaler")
                  ["spec"]["metrics"][0]["resource"]["target"].update(averageUtilization=80),
                  "want [70]")
    bad += broken("a policy changed in policies/ but not in the ConfigMap",
                  lambda ds: next(d for d in ds if d["kind"] == "ConfigMap" and d["metadata"][
                      "name"] == "acsd-policies-presets")["data"].update(
                      {"default.lua": "-- stale\n"}), "differs from policies/")
    bad += broken("a policies subdirectory not mounted",
                  lambda ds: c0(ds)["volumeMounts"].pop(0), "is in no ConfigMap")
    bad += broken("a secret volume item for a missing key",
                  lambda ds: next(v for v in dep(ds)["spec"]["template"]["spec"]["volumes"]
                                  if "secret" in v)["secret"]["items"][0].update(key="nope"),
                  "no key nope")
    bad += broken("the config file moved away from the Secret's volume",
                  lambda ds: c0(ds)["env"][0].update(value="/etc/acsd.conf"),
                  "ACS_CONFIG=/etc/acsd.conf is no file")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
