"""Rules every rendered Backfill manifest set must keep, beyond what the Kubernetes
and KEDA schemas can say (B6). Reads a multi-document YAML stream on stdin.

    helm template r helm/backfill | python3 deploy/tests/manifest_rules.py
    kubectl kustomize deploy/kustomize/base | python3 deploy/tests/manifest_rules.py

Prints one line per broken rule and exits 1 if any; run by scripts/helm-check.sh.
"""

import sys

import yaml

# The ports and paths the binaries serve (`backfill producer` / `backfill worker`).
HEALTH = {"producer": 8080, "worker": 8081}
SECRET_ENV = (
    "BACKFILL__SECRETS__CREDENTIAL_KEY",
    "BACKFILL__STORE__URL",
    "BACKFILL__REDIS__URL",
)


def main() -> int:
    docs = [doc for doc in yaml.safe_load_all(sys.stdin) if doc]
    problems = list(check(docs))
    for problem in problems:
        print(f"rule broken: {problem}")
    return 1 if problems else 0


def check(docs):
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)

    config = merged_config(by_kind.get("ConfigMap", []))
    grace = int(config.get("BACKFILL__WORKER__SHUTDOWN_GRACE_SECS", "0"))
    queue = config.get("BACKFILL__QUEUE__NAME")
    if not grace or not queue:
        yield "the ConfigMap sets BACKFILL__WORKER__SHUTDOWN_GRACE_SECS and BACKFILL__QUEUE__NAME"

    deployments = {component(d): d for d in by_kind.get("Deployment", [])}
    if set(deployments) != set(HEALTH):
        yield f"one producer and one worker Deployment, found {sorted(deployments)}"
    for name, deployment in deployments.items():
        yield from check_deployment(name, deployment, grace)

    services = [component(s) for s in by_kind.get("Service", [])]
    if "producer" not in services:
        yield "the producer has a Service"

    pdbs = sorted(component(p) for p in by_kind.get("PodDisruptionBudget", []))
    if pdbs != ["producer", "worker"]:
        yield f"a PodDisruptionBudget for producer and worker, found {pdbs}"

    scaled = by_kind.get("ScaledObject", [])
    hpas = [h for h in by_kind.get("HorizontalPodAutoscaler", []) if component(h) == "worker"]
    worker = deployments.get("worker")
    if scaled and hpas:
        yield "KEDA and the fallback HPA never both scale the workers"
    for so in scaled:
        yield from check_scaled_object(so, queue, worker)
    for hpa in hpas:
        if hpa["spec"].get("minReplicas", 1) < 1:
            yield "the worker HPA keeps at least one replica"
    autoscaled = bool(scaled or hpas)
    if worker and autoscaled and "replicas" in worker["spec"]:
        yield "an autoscaled worker Deployment leaves `replicas` to the autoscaler"


def check_deployment(name, deployment, grace):
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    where = f"{name} Deployment"

    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    termination = pod.get("terminationGracePeriodSeconds", 30)
    if termination <= pre_stop + grace:
        yield (
            f"{where}: terminationGracePeriodSeconds {termination} must exceed "
            f"preStop {pre_stop} + shutdown grace {grace}"
        )

    if container.get("args", [None])[0] != name:
        yield f"{where}: runs `backfill {name}`"

    port = HEALTH[name]
    named_ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container.get(probe, {}).get("httpGet", {})
        probe_port = named_ports.get(get.get("port"), get.get("port"))
        if get.get("path") != path or probe_port != port:
            yield f"{where}: {probe} is GET {path} on port {port}"

    pod_security = pod.get("securityContext", {})
    security = container.get("securityContext", {})
    if not (pod_security.get("runAsNonRoot") or security.get("runAsNonRoot")):
        yield f"{where}: runs as non-root"
    if security.get("readOnlyRootFilesystem") is not True:
        yield f"{where}: has a read-only root filesystem"
    if security.get("allowPrivilegeEscalation") is not False:
        yield f"{where}: forbids privilege escalation"
    if "ALL" not in security.get("capabilities", {}).get("drop", []):
        yield f"{where}: drops all capabilities"
    if pod.get("automountServiceAccountToken") is not False:
        yield f"{where}: mounts no service account token"

    resources = container.get("resources", {})
    if not {"cpu", "memory"} <= set(resources.get("requests", {})):
        yield f"{where}: requests CPU and memory"
    if "memory" not in resources.get("limits", {}):
        yield f"{where}: limits memory"

    env = {e["name"]: e for e in container.get("env", [])}
    for variable in SECRET_ENV:
        source = env.get(variable, {}).get("valueFrom", {}).get("secretKeyRef")
        if not source or "value" in env.get(variable, {}):
            yield f"{where}: {variable} comes from a Secret, never a literal"


def check_scaled_object(so, queue, worker):
    spec = so["spec"]
    if spec.get("minReplicaCount", 0) < 1:
        yield "the ScaledObject keeps minReplicaCount >= 1 (due tasks with no worker jam apalis-redis)"
    if worker and spec["scaleTargetRef"]["name"] != worker["metadata"]["name"]:
        yield "the ScaledObject scales the worker Deployment"
    lists = sorted(t["metadata"].get("listName") for t in spec["triggers"])
    wanted = sorted(f"{queue}:{state}" for state in ("scheduled", "active"))
    if lists != wanted:
        yield f"the ScaledObject triggers on {wanted}, found {lists}"
    for trigger in spec["triggers"]:
        if not trigger["type"].startswith("redis"):
            yield f"the ScaledObject's triggers are Redis triggers, found {trigger['type']}"


def merged_config(config_maps):
    merged = {}
    for config_map in config_maps:
        merged.update(config_map.get("data", {}))
    return merged


def component(doc):
    labels = doc["metadata"].get("labels", {})
    return labels.get("app.kubernetes.io/component") or doc["metadata"]["name"].rsplit("-", 1)[-1]


if __name__ == "__main__":
    sys.exit(main())
