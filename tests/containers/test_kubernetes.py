"""deploy/k8s renders, validates and keeps its promises, offline.

Each overlay is rendered with `kubectl kustomize` (kustomize v5: see `kubectl_binary`);
every object validates against Kubernetes 1.32's schemas (`kubernetes-validate`,
strict) or against its operator's CRD kept in deploy/k8s/crds/ (with no field the CRD
does not know: the API server would drop it silently). Then the invariants: probes,
limits, non-root, read-only root filesystem, no credential in any object, every
service with a PDB, a NetworkPolicy, a Service selecting its pods and a ScaledObject
(or an HPA) with the bounds of `SCALING`, the configuration from the generated
ConfigMap, a grace period longer than the drain bound; and the generated files equal
what the code generates.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]
from kubernetes_validate.utils import schema_contents  # type: ignore[import-untyped]
from referencing import Registry, Resource

from deploy.broker.definitions import USERS, dev_password, development_definitions
from deploy.k8s import generate
from services import SERVICES
from services.broker_setup import service_runtime
from shared.settings import ServiceSettings

K8S = Path(generate.__file__).parent
KUBERNETES_VERSION = "1.32"  # kubernetes-validate's strict schemas of this release
OVERLAYS = ("dev", "production", "production-hpa")
KEDA_OVERLAYS = ("dev", "production")
OPERATOR_GROUPS = ("rabbitmq.com", "mongodbcommunity.mongodb.com", "keda.sh")
SECRET_NAMES = re.compile(r"PASSWORD|SECRET|TOKEN|_KEYS?$", re.IGNORECASE)
CREDENTIALS_IN_URL = re.compile(r"://[^/@\s:]+:([^@\s]*)@")
# Services that verify no token, so never reach the identity provider (the public page).
TOKENLESS = ("transparency",)


def kubectl_binary() -> str:
    """A kubectl whose built-in kustomize is v5 (components, `labels`, `patches`).
    Debian's `kubernetes-client` (1.20, kustomize v2) cannot render these files."""
    found = os.environ.get("KUBECTL") or shutil.which("kubectl")
    assert found, "no kubectl: install kubectl ≥ 1.27 (kustomize v5) or set KUBECTL"
    answer = subprocess.run(
        [found, "version", "--client", "-o", "json"], capture_output=True, text=True, check=True
    )
    kustomize = json.loads(answer.stdout).get("kustomizeVersion", "")
    assert kustomize.startswith("v5"), f"{found} has kustomize {kustomize or '?'}, not v5"
    return found


@cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    answer = subprocess.run(
        [kubectl_binary(), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
    )
    assert answer.returncode == 0, answer.stderr
    return tuple(d for d in yaml.safe_load_all(answer.stdout) if d)


def of_kind(objects: tuple[dict[str, Any], ...], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → the CRD's openAPIV3Schema, for every version it serves."""
    schemas = {}
    for path in (K8S / "crds").glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served", False):
                schemas[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return schemas


@cache
def kubernetes_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    """kubernetes_validate.validate's schema (strict: no unknown field), built once."""
    folder = f"kubernetes-json-schema/v{KUBERNETES_VERSION}.0-local-strict"
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = schema_contents(f"{folder}/{kind.lower()}-{api}.json", KUBERNETES_VERSION)
    definitions = schema_contents(f"{folder}/_definitions.json", KUBERNETES_VERSION)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


@cache
def crd_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    schema = crd_schemas().get((api_version, kind))
    assert schema is not None, f"no CRD in deploy/k8s/crds for {kind} {api_version}"
    return jsonschema.validators.validator_for(schema)(schema)


def unknown_fields(value: Any, schema: dict[str, Any], path: str = "") -> Iterator[str]:
    """Fields a structural schema would prune: not in `properties`, where neither
    `additionalProperties` nor x-kubernetes-preserve-unknown-fields lets them be."""
    if isinstance(value, dict):
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if properties is not None and key in properties:
                yield from unknown_fields(item, properties[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                yield from unknown_fields(item, extra, f"{path}.{key}")
            elif properties is not None and path != ".metadata" and key != "metadata":
                yield f"{path}.{key}"
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from unknown_fields(item, schema["items"], f"{path}[{index}]")


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def containers(pod_owner: dict[str, Any]) -> list[dict[str, Any]]:
    spec: list[dict[str, Any]] = pod_owner["spec"]["template"]["spec"]["containers"]
    return spec


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    wanted = selector.get("matchLabels", {})
    expressions = selector.get("matchExpressions", [])
    return all(labels.get(k) == v for k, v in wanted.items()) and all(
        e["operator"] == "In" and labels.get(e["key"]) in e["values"] for e in expressions
    )


def test_generated_files_equal_what_the_code_generates() -> None:
    for path, text in generate.rendered().items():
        assert path.read_text() == text, f"{path} drifted: run python -m deploy.k8s.generate"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_against_its_schema(overlay: str) -> None:
    objects = rendered(overlay)
    assert len(objects) > 40
    for obj in objects:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["apiVersion"].split("/")[0] in OPERATOR_GROUPS:
            validator = crd_validator(obj["apiVersion"], obj["kind"])
            validator.validate(obj)
            assert list(unknown_fields(obj, validator.schema)) == [], f"{name}: unknown fields"
        else:
            kubernetes_validator(obj["apiVersion"], obj["kind"]).validate(obj)


def test_the_unknown_field_check_catches_a_misspelt_field() -> None:
    scaled = of_kind(rendered("production"), "ScaledObject")[0]
    misspelt = {**scaled, "spec": {**scaled["spec"], "maxReplicas": 3}}
    schema = crd_schemas()[("keda.sh/v1alpha1", "ScaledObject")]
    assert list(unknown_fields(misspelt, schema)) == [".spec.maxReplicas"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployments_are_probed_bounded_and_unprivileged(overlay: str) -> None:
    objects = rendered(overlay)
    config = {
        c["metadata"]["name"].rsplit("-", 1)[0]: c["data"] for c in of_kind(objects, "ConfigMap")
    }
    drain = float(config["berdaya-config"]["BERDAYA_SHUTDOWN_SECONDS"])
    assert drain >= ServiceSettings.model_fields["shutdown_seconds"].default
    deployments = of_kind(objects, "Deployment")
    assert sorted(d["metadata"]["name"] for d in deployments) == sorted(SERVICES)
    for deployment in deployments:
        name, pod = deployment["metadata"]["name"], deployment["spec"]["template"]["spec"]
        assert "replicas" not in deployment["spec"], f"{name}: the autoscaler owns the count"
        rolling = deployment["spec"]["strategy"]["rollingUpdate"]
        assert rolling["maxUnavailable"] == 0 and rolling["maxSurge"] >= 1
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001  # the image's user
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert {t["topologyKey"] for t in pod["topologySpreadConstraints"]} >= {
            "kubernetes.io/hostname",
            "topology.kubernetes.io/zone",
        }
        [container] = containers(deployment)
        assert container["args"] == [name]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        pause = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        assert pod["terminationGracePeriodSeconds"] > drain + pause, name
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) >= {"cpu", "memory"}, f"{name} {kind}"
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_has_a_pdb_a_network_policy_and_an_autoscaler(overlay: str) -> None:
    objects = rendered(overlay)
    scalers = {
        s["spec"]["scaleTargetRef"]["name"]: s
        for s in of_kind(objects, "ScaledObject") + of_kind(objects, "HorizontalPodAutoscaler")
    }
    for service in SERVICES:
        labels = {"app.kubernetes.io/name": service, "app.kubernetes.io/part-of": "berdaya"}
        pdbs = [
            p
            for p in of_kind(objects, "PodDisruptionBudget")
            if selects(p["spec"]["selector"], labels)
        ]
        policies = [
            p
            for p in of_kind(objects, "NetworkPolicy")
            if selects(p["spec"]["podSelector"], labels)
        ]
        assert len(pdbs) == 1, service
        assert {"Ingress", "Egress"} <= {t for p in policies for t in p["spec"]["policyTypes"]}
        assert service in scalers, f"{service}: no autoscaler"
        bounds = generate.SCALING[service]
        spec = scalers[service]["spec"]
        assert spec.get("minReplicaCount", spec.get("minReplicas")) == bounds.minimum >= 2
        assert spec.get("maxReplicaCount", spec.get("maxReplicas")) == bounds.maximum, service
    expected = "ScaledObject" if overlay in KEDA_OVERLAYS else "HorizontalPodAutoscaler"
    assert {s["kind"] for s in scalers.values()} == {expected}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_a_service_selecting_its_pods(overlay: str) -> None:
    objects = rendered(overlay)
    for deployment in of_kind(objects, "Deployment"):
        name = deployment["metadata"]["name"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selects(deployment["spec"]["selector"], labels), name
        services = [
            s
            for s in of_kind(objects, "Service")
            if s["spec"].get("selector") and selects({"matchLabels": s["spec"]["selector"]}, labels)
        ]
        assert [s["metadata"]["name"] for s in services] == [name]
        [port] = services[0]["spec"]["ports"]
        [container] = containers(deployment)
        assert port["targetPort"] in {p["name"] for p in container["ports"]}, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_reads_the_generated_configuration(overlay: str) -> None:
    objects = rendered(overlay)
    # configMapGenerator's name plus a content hash (a change rolls the Deployments)
    maps = {c["metadata"]["name"] for c in of_kind(objects, "ConfigMap")}
    [config] = [m for m in maps if re.fullmatch(r"berdaya-config-[a-z0-9]{10}", m)]
    for owner in of_kind(objects, "Deployment") + of_kind(objects, "Job"):
        for container in containers(owner):
            refs = [e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e]
            assert config in refs, f"{owner['metadata']['name']}: {refs}"
            assert set(refs) <= maps, f"{owner['metadata']['name']}: a ConfigMap not rendered"


@pytest.mark.parametrize("overlay", ("production", "production-hpa"))
def test_the_production_mongodb_override_names_the_operators_container_and_claim(
    overlay: str,
) -> None:
    # The CRD leaves statefulSet.spec unchecked: a misspelt name would add a second
    # container or claim instead of sizing the operator's own, and still validate.
    for database in of_kind(rendered(overlay), "MongoDBCommunity"):
        spec = database["spec"]["statefulSet"]["spec"]
        [container] = spec["template"]["spec"]["containers"]
        assert container["name"] == "mongod"
        assert container["resources"]["limits"]["memory"] == "2Gi"
        [claim] = spec["volumeClaimTemplates"]
        assert claim["metadata"]["name"] == "data-volume"
        assert claim["spec"]["resources"]["requests"]["storage"] == "50Gi"
        assert "podAntiAffinity" in spec["template"]["spec"]["affinity"]  # the base's, kept


def _egress_peers(policy: dict[str, Any]) -> list[tuple[str, frozenset[int]]]:
    peers = []
    for rule in policy["spec"].get("egress", []):
        ports = frozenset(p["port"] for p in rule.get("ports", []))
        for peer in rule.get("to", []):
            if "ipBlock" in peer:
                peers.append((f"ip:{peer['ipBlock']['cidr']}", ports))
            else:
                labels = peer.get("podSelector", {}).get("matchLabels", {})
                namespace = peer.get("namespaceSelector", {}).get("matchLabels", {})
                peers.append((json.dumps([namespace, labels], sort_keys=True), ports))
    return peers


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_reaches_only_rabbitmq_its_own_mongodb_and_dns(overlay: str) -> None:
    objects = rendered(overlay)
    dns = json.dumps(
        [{"kubernetes.io/metadata.name": "kube-system"}, {"k8s-app": "kube-dns"}], sort_keys=True
    )
    broker = json.dumps([{}, {"app.kubernetes.io/name": "rabbitmq"}], sort_keys=True)
    identity = json.dumps([{"kubernetes.io/metadata.name": "identity"}, {}], sort_keys=True)
    for service in SERVICES:
        labels = {"app.kubernetes.io/name": service}
        peers = {
            peer
            for p in of_kind(objects, "NetworkPolicy")
            if selects(p["spec"]["podSelector"], labels)
            for peer in _egress_peers(p)
        }
        own_db = json.dumps([{}, {"app": f"{service}-db-svc"}], sort_keys=True)
        allowed = {
            (dns, frozenset({53})),
            (broker, frozenset({5671, 5672})),
            (own_db, frozenset({27017})),
        }
        if service not in TOKENLESS:
            allowed.add((identity, frozenset({443, 8443})))
        if service == "notifications":
            allowed.add(("ip:0.0.0.0/0", frozenset({25, 465, 587, 443})))
        assert peers == allowed, service


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_credential_is_in_any_rendered_object(overlay: str) -> None:
    objects = rendered(overlay)
    assert of_kind(objects, "Secret") == []
    text = yaml.safe_dump_all(objects)
    for user in USERS:
        assert dev_password(user) not in text
    for value in (s for o in objects for s in strings(o)):
        for found in CREDENTIALS_IN_URL.findall(value):
            assert re.fullmatch(r"\$\([A-Z_]+\)", found), f"a password in {value!r}"
    for config in of_kind(objects, "ConfigMap"):
        assert not [k for k in config["data"] if SECRET_NAMES.search(k)], config["data"]
    for owner in of_kind(objects, "Deployment") + of_kind(objects, "Job"):
        for container in containers(owner):
            for variable in container.get("env", []):
                if SECRET_NAMES.search(variable["name"]):
                    assert "secretKeyRef" in variable["valueFrom"], variable


def test_queue_depth_is_measured_on_each_services_own_work_queues() -> None:
    settings = ServiceSettings(service_name="broker-setup")
    queues = {s: service_runtime(s, settings).consumers.queues for s in SERVICES}
    for scaled in of_kind(rendered("production"), "ScaledObject"):
        service = scaled["spec"]["scaleTargetRef"]["name"]
        [trigger] = [t for t in scaled["spec"]["triggers"] if t["type"] == "rabbitmq"]
        pattern = re.compile(trigger["metadata"]["queueName"])
        for owner, names in queues.items():
            assert all(bool(pattern.match(q)) == (owner == service) for q in names), owner
        assert not pattern.match(f"berdaya.{service}.dead-letter")
        assert not pattern.match(f"berdaya.{service}.retry.10s")


def test_rabbitmq_and_mongodb_are_replicated_with_users_of_their_own() -> None:
    objects = rendered("production")
    [cluster] = of_kind(objects, "RabbitmqCluster")
    assert cluster["spec"]["replicas"] == 3
    assert cluster["spec"]["resources"]["limits"]["memory"] == "4Gi"
    users = {u["spec"]["importCredentialsSecret"]["name"] for u in of_kind(objects, "User")}
    assert users == {generate.secret_name(u) for u in (*USERS, generate.AUTOSCALER)}
    found = development_definitions()
    for kind, section in (("Policy", "policies"), ("Exchange", "exchanges"), ("Queue", "queues")):
        assert sorted(o["spec"]["name"] for o in of_kind(objects, kind)) == sorted(
            item["name"] for item in found[section]
        ), kind
    databases = of_kind(objects, "MongoDBCommunity")
    assert sorted(d["metadata"]["name"] for d in databases) == sorted(
        generate.mongodb_name(s) for s in SERVICES
    )
    for database in databases:
        spec = database["spec"]
        assert spec["members"] == 3 and spec["security"]["tls"]["enabled"] is True
        [user] = spec["users"]
        [role] = spec["security"]["roles"]
        assert user["roles"] == [{"name": role["role"], "db": user["db"]}]
        assert {p["resource"]["db"] for p in role["privileges"]} == {user["db"]}
