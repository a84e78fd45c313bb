#!/usr/bin/env python3
"""Checks deploy/k8s without a cluster: every file parses as YAML, and the objects fit together (selectors match
pod labels, named probe ports exist, the bootstrap's label and port name are there, every LLMC_* variable is
one that reference.conf or deploy/llmc-node reads). Prints what is wrong and exits 1, or prints a summary.

    python3 deploy/k8s/check.py
"""
import pathlib
import re
import sys

import yaml

here = pathlib.Path(__file__).resolve().parent
root = here.parent.parent
problems = []


def problem(msg):
    problems.append(msg)


kustomization = yaml.safe_load((here / "kustomization.yaml").read_text())
objects = []
for name in kustomization["resources"]:
    path = here / name
    if not path.exists():
        problem(f"kustomization.yaml lists {name}, which does not exist")
        continue
    objects += [(name, d) for d in yaml.safe_load_all(path.read_text()) if d]

known_env = set(re.findall(r"\$\{\?(LLMC_[A-Z_]+)\}", (root / "cluster/src/main/resources/reference.conf").read_text()))
known_env |= set(re.findall(r"\b(LLMC_[A-Z_]+)", (root / "deploy/llmc-node").read_text()))

by_kind = {}
for f, o in objects:
    by_kind.setdefault(o["kind"], []).append((f, o))
accounts = {o["metadata"]["name"] for _, o in by_kind.get("ServiceAccount", [])}
services = {o["metadata"]["name"]: o for _, o in by_kind.get("Service", [])}
workloads = by_kind.get("Deployment", []) + by_kind.get("StatefulSet", [])

for f, w in workloads:
    name = w["metadata"]["name"]
    spec = w["spec"]
    labels = spec["template"]["metadata"]["labels"]
    if not set(spec["selector"]["matchLabels"].items()) <= set(labels.items()):
        problem(f"{f}: {name}'s selector does not match its pod labels")
    if labels.get("app.kubernetes.io/part-of") != "llmc":
        problem(f"{f}: {name}'s pods lack app.kubernetes.io/part-of=llmc, the bootstrap's pod-label-selector")
    pod = spec["template"]["spec"]
    if pod.get("serviceAccountName") not in accounts:
        problem(f"{f}: {name} uses service account {pod.get('serviceAccountName')}, not defined")
    if w["kind"] == "StatefulSet":
        svc = services.get(spec["serviceName"])
        if svc is None or svc["spec"].get("clusterIP") != "None":
            problem(f"{f}: {name}'s serviceName {spec['serviceName']} is not a headless service")
    for c in pod["containers"]:
        ports = {p["name"] for p in c.get("ports", [])}
        if "management" not in ports:
            problem(f"{f}: {name} has no container port named management (the bootstrap's port-name)")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            p = c.get(probe)
            if p is None:
                problem(f"{f}: {name} has no {probe}")
            elif p["httpGet"]["port"] not in ports:
                problem(f"{f}: {name}'s {probe} uses port {p['httpGet']['port']}, not a named container port")
        env = {e["name"]: e for e in c.get("env", [])}
        if env.get("LLMC_CLUSTER_JOIN", {}).get("value") != "bootstrap":
            problem(f"{f}: {name} does not set LLMC_CLUSTER_JOIN=bootstrap")
        for e in env:
            if e.startswith("LLMC_") and e not in known_env:
                problem(f"{f}: {name} sets {e}, which nothing reads")

for name, svc in services.items():
    sel = svc["spec"]["selector"]
    matched = [w for _, w in workloads if set(sel.items()) <= set(w["spec"]["template"]["metadata"]["labels"].items())]
    if not matched:
        problem(f"service {name}'s selector matches no workload")
    for p in svc["spec"]["ports"]:
        target = p.get("targetPort", p["port"])
        if isinstance(target, str) and not any(target in {cp["name"] for c in w["spec"]["template"]["spec"]["containers"]
                                                            for cp in c.get("ports", [])} for w in matched):
            problem(f"service {name}: targetPort {target} is no named port of its pods")

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"deploy/k8s: {len(objects)} objects in {len(kustomization['resources'])} files parse and fit together: "
      + ", ".join(f"{o['kind']}/{o['metadata']['name']}" for _, o in objects))
