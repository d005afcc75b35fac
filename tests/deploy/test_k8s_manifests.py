"""The rules every rendered Kubernetes overlay keeps (deploy/k8s, docs/kubernetes.md).

Read from ``kubectl kustomize`` output, so what is checked is what a cluster would get:
probes, resources and a locked-down security context on every container; settings that
exist, with the same names compose passes; the images ``make build`` tags; grace
periods and probe timings that fit the worker's settings; the autoscaler reading the
same backlog query and database as the pods; a network policy that lets nothing else in
or out.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from shared.jobs import BACKLOG_SQL
from shared.settings import Settings
from tests.deploy.manifests import K8S, OVERLAYS, ROOT, Manifest

pytestmark = pytest.mark.process  # kubectl renders the overlays; git checks what it ignores

SETTING_NAMES = {name.upper() for name in Settings.model_fields}
# Read by libraries, not by shared/settings.py: the standard OpenTelemetry variables.
ALLOWED_PREFIXES = ("OTEL_",)
# Kept in the Secret, never in the ConfigMap.
SECRET_SETTINGS = {"JWT_SECRET", "DB_PASS", "SMTP_PASSWORD", "DATABASE_URL"}
IMAGE_OF = {"api": "wadah-api", "worker": "wadah-worker", "migrate": "wadah-api"}
UVICORN_GRACE = re.compile(r"timeout_graceful_shutdown=(\d+)")
COMMENTED = re.compile(r"^#\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
SET = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$", re.MULTILINE)

overlays = pytest.mark.parametrize("overlay", OVERLAYS)


# --- reading the rendered objects -------------------------------------------------------


def one(docs: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    (found,) = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return found


def component(doc: Manifest) -> str:
    return str(doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"])


def workloads(docs: list[Manifest]) -> Iterator[Manifest]:
    yield from (d for d in docs if d["kind"] in ("Deployment", "Job"))


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def all_containers(docs: list[Manifest]) -> Iterator[tuple[Manifest, dict[str, Any]]]:
    for doc in workloads(docs):
        for container in containers(doc["spec"]["template"]["spec"]):
            yield doc, container


def config(docs: list[Manifest]) -> dict[str, str]:
    return dict(one(docs, "ConfigMap")["data"])


def secret_keys(docs: list[Manifest]) -> set[str]:
    secret = one(docs, "Secret")
    return set(secret.get("data", {})) | set(secret.get("stringData", {}))


def effective(docs: list[Manifest], name: str) -> Any:
    """A setting as the pods see it: the ConfigMap's value, else the default of shared/settings.py."""
    value = config(docs).get(name)
    if value is not None:
        return type(Settings.model_fields[name.lower()].default)(value)
    return Settings.model_fields[name.lower()].default


def env_files() -> list[Path]:
    return [*K8S.glob("base/config.env"), *K8S.glob("overlays/*/config.env"), *K8S.glob("overlays/*/*.example")]


def env_names(docs: list[Manifest]) -> set[str]:
    """Every variable name a pod can receive: explicit env, the ConfigMap's and the Secret's keys."""
    names = set(config(docs)) | secret_keys(docs)
    for _, container in all_containers(docs):
        names |= {e["name"] for e in container.get("env", [])}
    return names


def documented_names() -> set[str]:
    """Names set or offered (commented out) in the committed env files."""
    names: set[str] = set()
    for path in env_files():
        text = path.read_text()
        names |= set(COMMENTED.findall(text)) | {m.group(1) for m in SET.finditer(text)}
    return names


def unknown_settings(names: set[str]) -> set[str]:
    return {n for n in names if n not in SETTING_NAMES and not n.startswith(ALLOWED_PREFIXES)}


def dockerfile(service: str) -> str:
    return (ROOT / "services" / service / "Dockerfile").read_text()


def image_user(service: str) -> int:
    (uid,) = re.findall(r"^USER\s+(\d+)", dockerfile(service), re.MULTILINE)
    return int(uid)


def image_workdir(service: str) -> Path:
    return Path(re.findall(r"^WORKDIR\s+(\S+)", dockerfile(service), re.MULTILINE)[-1])


def built_images() -> set[str]:
    """The names `make build` tags: wadah-$svc for each of scripts/stack.sh's SERVICES."""
    stack = (ROOT / "scripts" / "stack.sh").read_text()
    (services,) = re.findall(r"^SERVICES=\(([^)]*)\)", stack, re.MULTILINE)
    assert '-t "wadah-$svc:$TAG"' in stack
    return {f"wadah-{svc}" for svc in services.split()}


def repository(image: str) -> str:
    """registry/prefix/wadah-api:tag -> wadah-api; compose's ``${WADAH_API_IMAGE:-wadah-api}`` -> its default."""
    if image.startswith("${") and ":-" in image:
        image = image.split(":-", 1)[1].rstrip("}")
    return image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yml").read_text())
    return loaded


# --- containers ---------------------------------------------------------------------------


@overlays
def test_every_container_runs_as_the_images_user_with_nothing_to_escalate(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    for doc in workloads(rendered[overlay]):
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        service = "worker" if component(doc) == "worker" else "api"
        for container in containers(pod):
            where = f"{overlay}: {doc['metadata']['name']}/{container['name']}"
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, where
            assert context["runAsUser"] == image_user(service), where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert repository(container["image"]) == IMAGE_OF[component(doc)], where


@overlays
def test_everything_a_container_writes_is_on_an_empty_dir(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    for doc in workloads(rendered[overlay]):
        pod = doc["spec"]["template"]["spec"]
        empty_dirs = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        for container in containers(pod):
            mounts = {Path(m["mountPath"]): m["name"] for m in container.get("volumeMounts", [])}
            assert all(name in empty_dirs for name in mounts.values()), container["name"]
            assert Path("/tmp") in mounts  # noqa: S108 - the container's own /tmp, f"{container['name']} has no writable /tmp"
            if container["name"] in ("api", "worker"):
                workdir = image_workdir(container["name"])
                for path in (defaults.worker_heartbeat_file,):
                    full = workdir / path
                    assert any(full.is_relative_to(m) for m in mounts), f"{container['name']} cannot write {full}"


@overlays
def test_every_container_has_requests_and_a_memory_limit(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    for _, container in all_containers(rendered[overlay]):
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), container["name"]
        assert "memory" in resources["limits"], container["name"]


@overlays
def test_long_running_containers_have_startup_and_liveness_probes(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    docs = rendered[overlay]
    for doc in (d for d in docs if d["kind"] == "Deployment"):
        for container in doc["spec"]["template"]["spec"]["containers"]:
            assert "startupProbe" in container, container["name"]
            assert "livenessProbe" in container, container["name"]
    (api,) = one(docs, "Deployment", "wadah-api")["spec"]["template"]["spec"]["containers"]
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert api["startupProbe"]["httpGet"]["path"] == "/healthz"
    (worker,) = one(docs, "Deployment", "wadah-worker")["spec"]["template"]["spec"]["containers"]
    for probe in ("startupProbe", "livenessProbe"):
        assert worker[probe]["exec"]["command"] == ["python", "-m", "worker.healthcheck"]


@overlays
def test_a_wedged_or_dead_worker_is_restarted_within_a_minute(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    docs = rendered[overlay]
    (worker,) = one(docs, "Deployment", "wadah-worker")["spec"]["template"]["spec"]["containers"]
    probe = worker["livenessProbe"]
    worst = (
        effective(docs, "WORKER_HEARTBEAT_MAX_AGE_SECONDS")
        + probe["periodSeconds"] * probe["failureThreshold"]
        + probe["timeoutSeconds"]
    )
    assert worst <= 60


# --- settings -----------------------------------------------------------------------------


def test_a_misspelt_setting_is_caught() -> None:
    assert unknown_settings({"JOB_SHUTDOWN_GRACE_SECOND", "DB_HOST", "OTEL_SERVICE_NAME"}) == {
        "JOB_SHUTDOWN_GRACE_SECOND"
    }


@overlays
def test_every_variable_a_pod_gets_is_a_setting(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    assert unknown_settings(env_names(rendered[overlay])) == set()


def test_every_name_in_the_committed_env_files_is_a_setting() -> None:
    assert unknown_settings(documented_names()) == set()


@overlays
def test_secrets_are_in_the_secret_only(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    docs = rendered[overlay]
    assert SECRET_SETTINGS.isdisjoint(config(docs))
    assert {"JWT_SECRET", "DB_PASS"} <= secret_keys(docs)
    for _, container in all_containers(docs):
        assert SECRET_SETTINGS.isdisjoint(e["name"] for e in container.get("env", []))


def test_no_secret_value_is_committed() -> None:
    for example in K8S.glob("overlays/*/secrets.env.example"):
        assert all(value == "" for _, value in SET.findall(example.read_text())), example
        secrets = example.with_name("secrets.env")
        ignored = subprocess.run(["git", "check-ignore", "-q", str(secrets)], cwd=ROOT, check=False)
        assert ignored.returncode == 0, f"{secrets} is not git-ignored"


@overlays
def test_compose_and_kubernetes_pass_the_same_settings(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    """What compose can set, Kubernetes sets or offers in its env files, and the other way round."""
    docs = rendered[overlay]
    offered = env_names(docs) | documented_names()
    services = compose()["services"]
    compose_names: set[str] = set()
    for service in ("migrate", "api", "worker"):
        names = {n for n in services[service]["environment"] if n in SETTING_NAMES}
        compose_names |= names
        assert names <= offered, f"compose's {service} gets {sorted(names - offered)}; Kubernetes does not"
    kubernetes_sets = {n for n in env_names(docs) if n in SETTING_NAMES}
    assert kubernetes_sets <= compose_names, f"compose cannot set {sorted(kubernetes_sets - compose_names)}"


# --- images, grace periods, scaling ----------------------------------------------------------


@overlays
def test_images_are_the_ones_make_build_tags(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    images = {repository(c["image"]) for _, c in all_containers(rendered[overlay])}
    assert images == built_images()
    compose_images = {repository(s["image"]) for s in compose()["services"].values() if "build" in s}
    assert compose_images == built_images()


@overlays
def test_grace_periods_cover_the_shutdowns_they_wait_for(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    docs = rendered[overlay]
    worker = one(docs, "Deployment", "wadah-worker")["spec"]["template"]["spec"]
    job_grace = effective(docs, "JOB_SHUTDOWN_GRACE_SECONDS")
    # The jobs' grace, then the shutdown hooks (dispatcher, recorder, pools) need a few seconds.
    assert worker["terminationGracePeriodSeconds"] >= job_grace + 10
    stop_grace = compose()["services"]["worker"]["stop_grace_period"]
    assert int(stop_grace.rstrip("s")) > job_grace
    api = one(docs, "Deployment", "wadah-api")["spec"]["template"]["spec"]
    (uvicorn,) = UVICORN_GRACE.findall((ROOT / "services/api/src/api/__main__.py").read_text())
    pre_stop = api["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert api["terminationGracePeriodSeconds"] > pre_stop + int(uvicorn)


@overlays
def test_new_pods_wait_for_the_migration_job(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    docs = rendered[overlay]
    job = one(docs, "Job", "wadah-migrate")["spec"]["template"]["spec"]
    assert job["restartPolicy"] == "Never"
    assert job["containers"][0]["command"] == ["python", "-m", "shared.migrate"]
    for name in ("wadah-api", "wadah-worker"):
        pod = one(docs, "Deployment", name)["spec"]["template"]["spec"]
        (init,) = pod["initContainers"]
        assert init["command"][:4] == ["python", "-m", "shared.migrate", "--wait"]
        assert init["image"] == pod["containers"][0]["image"]
        assert init["envFrom"] == pod["containers"][0]["envFrom"]


@overlays
def test_the_worker_scales_on_the_backlog_in_the_jobs_table(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    docs = rendered[overlay]
    scaled = one(docs, "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == one(docs, "Deployment", "wadah-worker")["metadata"]["name"]
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "mysql"
    meta = trigger["metadata"]
    assert meta["query"] == BACKLOG_SQL
    assert float(meta["queryValue"]) == effective(docs, "WORKER_MAX_JOBS")
    settings = config(docs)
    assert (meta["host"], meta["port"], meta["dbName"], meta["username"]) == (
        settings["DB_HOST"],
        settings["DB_PORT"],
        settings["DB_NAME"],
        settings["DB_USER"],
    )
    auth = one(docs, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    (password,) = auth["spec"]["secretTargetRef"]
    assert password["parameter"] == "password"
    assert password["name"] == one(docs, "Secret")["metadata"]["name"]
    assert password["key"] == "DB_PASS"


def test_replica_counts_per_overlay(rendered: dict[str, list[Manifest]]) -> None:
    prod, dev = rendered["prod"], rendered["dev"]
    assert one(prod, "HorizontalPodAutoscaler")["spec"]["minReplicas"] >= 2
    assert one(prod, "ScaledObject")["spec"]["maxReplicaCount"] > one(prod, "ScaledObject")["spec"]["minReplicaCount"]
    hpa, scaled = one(dev, "HorizontalPodAutoscaler")["spec"], one(dev, "ScaledObject")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"], scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (
        1,
        1,
        1,
        1,
    )


@overlays
def test_the_api_is_served_autoscaled_on_cpu_and_protected_from_drains(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    docs = rendered[overlay]
    labels = one(docs, "Deployment", "wadah-api")["spec"]["template"]["metadata"]["labels"]
    selected = {"app.kubernetes.io/name": labels["app.kubernetes.io/name"], "app.kubernetes.io/component": "api"}
    assert one(docs, "Service", "wadah-api")["spec"]["selector"] == selected
    assert one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == selected
    hpa = one(docs, "HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == "wadah-api"
    assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu"]


# --- network and metrics --------------------------------------------------------------------


def policies_for(docs: list[Manifest], labels: dict[str, str]) -> list[dict[str, Any]]:
    return [
        p["spec"]
        for p in docs
        if p["kind"] == "NetworkPolicy" and p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    ]


def pod_labels(docs: list[Manifest], name: str) -> dict[str, str]:
    labels: dict[str, str] = one(docs, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
    return labels


def metrics_port(docs: list[Manifest], name: str) -> int:
    pod = one(docs, "Deployment", name)["spec"]["template"]
    (port,) = [p["containerPort"] for p in pod["spec"]["containers"][0]["ports"] if p["name"] == "metrics"]
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    return int(port)


@overlays
def test_every_wadah_pod_is_under_a_default_deny(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    docs = rendered[overlay]
    (deny,) = [p for p in docs if p["kind"] == "NetworkPolicy" and p["metadata"]["name"] == "wadah-default-deny"]
    assert deny["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/part-of": "wadah"}
    assert sorted(deny["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    for doc in workloads(docs):
        assert doc["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/part-of") == "wadah"


@overlays
def test_ingress_the_api_port_and_metrics_from_monitoring_only(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    docs = rendered[overlay]
    monitoring = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]

    def ingress(name: str) -> list[tuple[Any, list[int]]]:
        rules = [r for p in policies_for(docs, pod_labels(docs, name)) for r in p.get("ingress", [])]
        return [(r.get("from"), sorted(port["port"] for port in r["ports"])) for r in rules]

    (api,) = one(docs, "Deployment", "wadah-api")["spec"]["template"]["spec"]["containers"]
    (api_port,) = [p["containerPort"] for p in api["ports"] if p["name"] == "http"]
    assert {"name": "PORT", "value": str(api_port)} in api["env"]
    assert sorted(ingress("wadah-api"), key=str) == sorted(
        [(None, [api_port]), (monitoring, [metrics_port(docs, "wadah-api")])], key=str
    )
    assert ingress("wadah-worker") == [(monitoring, [metrics_port(docs, "wadah-worker")])]


@overlays
def test_egress_only_dns_mysql_redis_and_for_the_worker_smtp(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    docs = rendered[overlay]

    def egress(name: str) -> set[tuple[str, int]]:
        rules = [r for p in policies_for(docs, pod_labels(docs, name)) for r in p.get("egress", [])]
        return {(port["protocol"], port["port"]) for r in rules for port in r["ports"]}

    redis_port = urlsplit(config(docs)["REDIS_URL"]).port or 6379
    base = {("UDP", 53), ("TCP", 53), ("TCP", int(config(docs)["DB_PORT"])), ("TCP", redis_port)}
    assert egress("wadah-api") == base
    smtp_port = int(effective(docs, "SMTP_PORT"))
    assert egress("wadah-worker") == base | {("TCP", smtp_port), ("TCP", 465), ("TCP", 25)}


@overlays
def test_metrics_ports_are_the_ones_the_processes_serve(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    """Checked against the settings once they exist (the worker's default, the API's METRICS_PORT)."""
    docs = rendered[overlay]
    if "worker_metrics_port" in Settings.model_fields:
        assert metrics_port(docs, "wadah-worker") == effective(docs, "WORKER_METRICS_PORT")
    if "metrics_port" in Settings.model_fields:
        port = config(docs).get("METRICS_PORT")
        assert port is not None, "set METRICS_PORT in deploy/k8s/base/config.env: the API's /metrics port"
        assert int(port) == metrics_port(docs, "wadah-api")
