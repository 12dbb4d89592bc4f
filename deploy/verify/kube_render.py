#!/usr/bin/env python3
"""Renders deploy/k8s/ for `podman kube play` against the composed stack, as kustomize would for
a cluster: the kustomization's images become the locally built ones, the Secrets' CHANGE-ME
placeholders the compose stack's development passwords and host names. Writes the kinds podman
runs (ConfigMap, Deployment) to OUT, the Secrets to OUT.secrets, and prints, one per line, what cannot run here.

  kube_render.py K8S_DIR OUT
"""
import base64
import json
import sys
from pathlib import Path

import yaml

RUNS = {"ConfigMap", "Secret", "Deployment"}
WHY = {
    "Service": "no cluster DNS or kube-proxy: the pods join the compose network instead",
    "PodDisruptionBudget": "no eviction API without a cluster",
    "ScaledObject": "KEDA is an operator in a cluster",
    "TriggerAuthentication": "KEDA is an operator in a cluster",
    "RabbitmqCluster": "the RabbitMQ cluster operator runs in a cluster (compose's RabbitMQ stands in)",
    "Ingress": "no ingress controller",
}
# The compose stack's development credentials (deploy/compose.yaml), by placeholder's context.
SECRETS = {
    "postgres://firstweek_scheduler:CHANGE-ME@postgres.example.internal:5432/":
        "postgres://firstweek_scheduler:scheduler-dev-password@postgres:5432/",
    "postgres://firstweek_worker:CHANGE-ME@postgres.example.internal:5432/":
        "postgres://firstweek_worker:worker-dev-password@postgres:5432/",
    "postgres://firstweek_web:CHANGE-ME@postgres.example.internal:5432/":
        "postgres://firstweek_web:web-dev-password@postgres:5432/",
    "amqp://firstweek-scheduler:CHANGE-ME@rabbitmq.example.internal:5672/":
        "amqp://firstweek-scheduler:scheduler-dev-password@rabbitmq:5672/",
    "amqp://firstweek-worker:CHANGE-ME@rabbitmq.example.internal:5672/":
        "amqp://firstweek-worker:worker-dev-password@rabbitmq:5672/",
    "smtp://firstweek:CHANGE-ME@smtp-relay.example.internal:25":
        "smtp://mailpit:1025?tls=opportunistic",
    "CHANGE-ME-to-at-least-32-random-characters": "compose-dev-pseudonym-key-not-a-secret",
    "http://firstweek-keda:CHANGE-ME@rabbitmq.example.internal:15672/":
        "http://firstweek-keda:keda-dev-password@rabbitmq:15672/",
}


def main(k8s, out):
    k8s = Path(k8s)
    kustomization = yaml.safe_load((k8s / "kustomization.yaml").read_text())
    images = {i["name"]: f"localhost/{i['name']}:dev" for i in kustomization.get("images", [])}
    kept = []
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((k8s / name).read_text()):
            if not doc:
                continue
            kind, meta = doc["kind"], doc["metadata"]["name"]
            if kind not in RUNS:
                print(f"{kind}/{meta} ({name}): {WHY.get(kind, 'not supported by podman kube play')}")
                continue
            if kind == "Secret":
                for key, value in doc.get("stringData", {}).items():
                    for placeholder, local in SECRETS.items():
                        value = value.replace(placeholder, local)
                    if "CHANGE-ME" in value:
                        sys.exit(f"{name}: {meta}.{key} has a placeholder this script does not know")
                    doc["stringData"][key] = value
                # As a cluster stores it: the values base64-encoded under `data`.
                doc["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in doc.pop("stringData").items()}
            if kind == "ConfigMap":
                doc["data"]["FIRSTWEEK_TIME_SCALE"] = "10080"
                doc["data"]["FIRSTWEEK_SEND_WINDOW"] = "off"
            if kind == "Deployment":
                # podman makes a pod per replica and publishes every containerPort on the host:
                # a second replica's ports would collide with the first's.
                if doc["spec"].get("replicas", 1) > 1:
                    print(f"{kind}/{meta} ({name}): replicas {doc['spec']['replicas']} played as 1 "
                          "(podman publishes each pod's ports on the host)")
                    doc["spec"]["replicas"] = 1
                for c in doc["spec"]["template"]["spec"]["containers"]:
                    c["image"] = images.get(c["image"], c["image"])
            kept.append(doc)
    # podman 4.3 stores a Secret of the played YAML as YAML, then reads it back as a JSON object
    # of base64 values and fails (containers/podman#17071): the Secrets go to OUT.secrets instead,
    # a line per Secret, its name and that object, for `podman secret create`.
    plays = [d for d in kept if d["kind"] != "Secret"]
    Path(out).write_text(yaml.safe_dump_all(plays, sort_keys=False))
    Path(out + ".secrets").write_text("".join(
        f"{d['metadata']['name']}\t{json.dumps(d['data'])}\n" for d in kept if d["kind"] == "Secret"))


if __name__ == "__main__":
    main(*sys.argv[1:])
