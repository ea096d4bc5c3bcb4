"""deploy/ and the Dockerfile, checked with no cluster, no Docker daemon and no network.

Over ~400 lines on purpose: one check per wiring rule, each with the broken copy it must
refuse, reads best in one place.

Every Kubernetes manifest is validated against the API schemas that ``kubernetes-validate``
bundles (strict: an unknown field is an error) for pinned Kubernetes versions, and the
wiring a schema cannot see is checked: probes, drain time, the HPA's and the PDB's targets,
Services and ports, secrets kept out of the manifests. Each check is also shown to refuse a
broken copy, so a green run means something.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

try:
    import kubernetes_validate
except ImportError:  # fail, never skip: CI must validate deploy/ (the `dev` extra has it)
    pytest.fail('kubernetes-validate is not installed: pip install -e ".[dev]"', pytrace=False)

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OVERLAY = DEPLOY / "overlays" / "host-network"
DOCKERFILE = ROOT / "Dockerfile"
#: The oldest Kubernetes the manifests are meant for, and the newest the validator knows.
K8S_VERSIONS = ("1.33.0", "1.37.0")
SECRET_NAME = re.compile(r"TOKEN|PASSWORD|SECRET|API_KEY|REDIS_URL")

Doc = dict[str, Any]


def load_resources(deploy: Path) -> list[tuple[str, Doc]]:
    """(file, resource) for every resource the kustomization lists, in order."""
    kustomization = yaml.safe_load((deploy / "kustomization.yaml").read_text())
    found = []
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((deploy / name).read_text()):
            if doc:
                found.append((name, doc))
    return found


def schema_problems(resources: list[tuple[str, Doc]], version: str) -> list[str]:
    """Every resource against the bundled schemas; a kind with no schema is a problem too."""
    problems = []
    for name, doc in resources:
        where = f"{name}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            problems.append(f"{where}: {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            problems.append(f"{where}: {e.message}")
    return problems


def one(resources: list[tuple[str, Doc]], kind: str, name: str) -> Doc:
    matches = [d for _, d in resources if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def containers(doc: Doc) -> Iterator[Doc]:
    if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
        spec = doc["spec"]["template"]["spec"]
        yield from spec.get("initContainers", [])
        yield from spec["containers"]


def flag_value(args: list[str], flag: str) -> str:
    assert flag in args, f"{flag} missing from {args}"
    return args[args.index(flag) + 1]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def prestop_secs(container: Doc) -> int:
    pre = container.get("lifecycle", {}).get("preStop", {})
    if "sleep" in pre:
        return int(pre["sleep"]["seconds"])
    command = pre.get("exec", {}).get("command", [])
    return int(command[1]) if command[:1] == ["sleep"] else 0


def wiring_problems(resources: list[tuple[str, Doc]]) -> list[str]:
    """What the schemas cannot see: how the manifests refer to each other and to the app."""
    problems: list[str] = []
    deployment = one(resources, "Deployment", "voicebot")
    pod = deployment["spec"]["template"]
    pod_labels = pod["metadata"]["labels"]
    app = pod["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in app["ports"]}
    if not selects(deployment["spec"]["selector"]["matchLabels"], pod_labels):
        problems.append("the Deployment's selector does not match its pods")

    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = app.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or get.get("port") not in ports:
            problems.append(f"{probe} must GET {path} on a container port, not {get}")

    drain = float(flag_value(app["args"], "--drain-timeout"))
    grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
    if grace <= drain + prestop_secs(app):
        problems.append(
            f"terminationGracePeriodSeconds {grace} leaves no time for preStop "
            f"({prestop_secs(app)} s) + --drain-timeout {drain:g}"
        )
    if "replicas" in deployment["spec"]:
        problems.append("the Deployment sets replicas, which the HPA owns")

    hpa = one(resources, "HorizontalPodAutoscaler", "voicebot")
    target = hpa["spec"]["scaleTargetRef"]
    if [target[k] for k in ("apiVersion", "kind", "name")] != ["apps/v1", "Deployment", "voicebot"]:
        problems.append(f"the HPA scales {target}, not the voicebot Deployment")
    metrics = [m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    if metrics != ["voicebot_calls_active"]:
        problems.append(f"the HPA scales on {metrics}, not voicebot_calls_active")
    if hpa["spec"].get("minReplicas", 1) < 2:
        problems.append("the HPA allows a single pod: one drain would take all capacity")

    pdb = one(resources, "PodDisruptionBudget", "voicebot")
    pdb_selector = pdb["spec"]["selector"]["matchLabels"]
    others = [d for _, d in resources if d["kind"] == "Deployment" and d is not deployment]
    if not selects(pdb_selector, pod_labels) or any(
        selects(pdb_selector, d["spec"]["template"]["metadata"]["labels"]) for d in others
    ):
        problems.append(f"the PDB selector {pdb_selector} is not exactly the voicebot pods")

    services = {d["metadata"]["name"]: d for _, d in resources if d["kind"] == "Service"}
    deployments = {d["metadata"]["name"]: d for _, d in resources if d["kind"] == "Deployment"}
    for name, service in services.items():
        backing = [
            d
            for d in deployments.values()
            if selects(service["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])
        ]
        names = {p["name"] for d in backing for c in containers(d) for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            if len(backing) != 1 or port["targetPort"] not in names:
                problems.append(f"Service {name} port {port['name']} reaches no container port")

    ingress = one(resources, "Ingress", "voicebot")
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            service = services.get(backend["name"])
            if service is None or backend["port"]["name"] not in {
                p["name"] for p in service["spec"]["ports"]
            }:
                problems.append(f"the Ingress path {path['path']} points at no Service port")
            if path["path"] == "/" and path["pathType"] != "Exact":
                problems.append("the Ingress's / must be Exact: a prefix would publish /metrics")
            if any(path["path"].startswith(p) for p in ("/metrics", "/healthz", "/readyz")):
                problems.append(f"the Ingress publishes {path['path']}")
    if not ingress["spec"].get("tls"):
        problems.append("the Ingress terminates no TLS")

    redis_policy = one(resources, "NetworkPolicy", "redis-from-voicebot")
    allowed = [
        p["podSelector"]["matchLabels"] for r in redis_policy["spec"]["ingress"] for p in r["from"]
    ]
    if allowed != [deployment["spec"]["selector"]["matchLabels"]]:
        problems.append(f"Redis is open to {allowed}, not only to the voicebot pods")
    problems.extend(secret_problems(resources))
    problems.extend(security_problems(deployment))
    return problems


def secret_problems(resources: list[tuple[str, Doc]]) -> list[str]:
    """Secrets are referenced (secretKeyRef), never written into the manifests."""
    problems = []
    for name, doc in resources:
        if doc["kind"] == "Secret":
            problems.append(f"{name}: a Secret with its data inline")
        for c in containers(doc):
            from_secret = {
                e["name"] for e in c.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})
            }
            for e in c.get("env", []):
                if SECRET_NAME.search(e["name"]) and e["name"] not in from_secret:
                    problems.append(f"{name}: env {e['name']} is not from a Secret")
            words = c.get("command", []) + c.get("args", [])
            for flag in ("--token", "--requirepass"):
                if flag in words:
                    value = flag_value(words, flag)
                    ref = re.fullmatch(r"\$\((\w+)\)", value)
                    if ref is None or ref.group(1) not in from_secret:
                        problems.append(f"{name}: {flag} is given inline, not from a Secret")
    return problems


def security_problems(deployment: Doc) -> list[str]:
    """Non-root, read-only root filesystem with /tmp the one writable mount."""
    pod = deployment["spec"]["template"]["spec"]
    app = pod["containers"][0]
    context = app.get("securityContext", {})
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: volumes.get(m["name"], {}) for m in app.get("volumeMounts", [])}
    problems = []
    if not pod.get("securityContext", {}).get("runAsNonRoot"):
        problems.append("the pod may run as root")
    if not context.get("readOnlyRootFilesystem") or context.get("allowPrivilegeEscalation", True):
        problems.append("the container's root filesystem is writable or it may escalate")
    if "emptyDir" not in mounts.get("/tmp", {}):
        problems.append("/tmp is not an emptyDir: a read-only root filesystem leaves no /tmp")
    return problems


@pytest.fixture(scope="module")
def resources() -> list[tuple[str, Doc]]:
    return load_resources(DEPLOY)


def test_the_kustomization_lists_every_manifest_in_deploy() -> None:
    listed = set(yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["resources"])
    on_disk = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_manifest_validates_against_the_bundled_schemas(
    resources: list[tuple[str, Doc]], version: str
) -> None:
    kinds = {d["kind"] for _, d in resources}
    assert {"Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress"} <= kinds
    assert schema_problems(resources, version) == []


def test_the_manifests_are_wired_to_each_other_and_to_the_app(
    resources: list[tuple[str, Doc]],
) -> None:
    assert wiring_problems(resources) == []


BREAKAGES: dict[str, tuple[Callable[[str], str], str]] = {
    "a misspelt field": (lambda s: s.replace("readinessProbe:", "readinesProbe:"), "readinesProbe"),
    "a wrong type": (lambda s: s.replace("maxSurge: 1", "maxSurge: [1]"), "maxSurge"),
    "a removed API": (lambda s: s.replace("apps/v1", "extensions/v1beta1", 1), "Couldn't find"),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_the_validator_refuses_a_broken_copy(tmp_path: Path, breakage: str) -> None:
    broken_dir = tmp_path / "deploy"
    shutil.copytree(DEPLOY, broken_dir)
    edit, expected = BREAKAGES[breakage]
    manifest = broken_dir / "voicebot-deployment.yaml"
    manifest.write_text(edit(manifest.read_text()))
    problems = schema_problems(load_resources(broken_dir), K8S_VERSIONS[0])
    assert len(problems) == 1 and expected in problems[0], problems


def _deployment(docs: list[tuple[str, Doc]]) -> Doc:
    return one(docs, "Deployment", "voicebot")


APP = "spec.template.spec.containers.0"
#: (kind, name, path to a value, new value, what the problem must say)
WIRING_BREAKAGES: dict[str, tuple[str, str, str, Any, str]] = {
    "readiness on /healthz": (
        "Deployment", "voicebot", f"{APP}.readinessProbe.httpGet.path", "/healthz", "readinessProbe"
    ),
    "grace shorter than the drain": (
        "Deployment", "voicebot", "spec.template.spec.terminationGracePeriodSeconds", 300, "Grace"
    ),
    "HPA on another Deployment": (
        "HorizontalPodAutoscaler", "voicebot", "spec.scaleTargetRef.name", "redis", "the HPA"
    ),
    "PDB selecting Redis too": (
        "PodDisruptionBudget", "voicebot", "spec.selector.matchLabels",
        {"app.kubernetes.io/part-of": "voicebot"}, "the PDB selector",
    ),
    "token inline": (
        "Deployment", "voicebot", f"{APP}.env.0", {"name": "VOICEBOT_SERVE_TOKEN", "value": "x"},
        "not from a Secret",
    ),
    "Ingress publishing everything": (
        "Ingress", "voicebot", "spec.rules.0.http.paths.0.pathType", "Prefix", "must be Exact"
    ),
    "writable root": (
        "Deployment", "voicebot", f"{APP}.securityContext.readOnlyRootFilesystem", False,
        "root filesystem",
    ),
}  # fmt: skip


@pytest.mark.parametrize("breakage", WIRING_BREAKAGES)
def test_the_wiring_checks_refuse_a_broken_copy(
    resources: list[tuple[str, Doc]], breakage: str
) -> None:
    docs = copy.deepcopy(resources)
    kind, name, path, value, expected = WIRING_BREAKAGES[breakage]
    *parents, last = [int(k) if k.isdigit() else k for k in path.split(".")]
    node: Any = one(docs, kind, name)
    for key in parents:
        node = node[key]
    node[last] = value
    problems = wiring_problems(docs)
    assert any(expected in p for p in problems), problems


def merge(base: Any, patch: Any) -> Any:
    """A strategic-merge patch as far as the overlay uses it: maps merge, the rest replaces."""
    if isinstance(base, dict) and isinstance(patch, dict):
        return {k: merge(base.get(k), v) if k in base else v for k, v in patch.items()} | {
            k: v for k, v in base.items() if k not in patch
        }
    return patch


def test_the_host_network_overlay_yields_valid_manifests(resources: list[tuple[str, Doc]]) -> None:
    kustomization = yaml.safe_load((OVERLAY / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["../../"]
    patched = copy.deepcopy(resources)
    for entry in kustomization["patches"]:
        patch = yaml.safe_load((OVERLAY / entry["path"]).read_text())
        for i, (name, doc) in enumerate(patched):
            if (doc["kind"], doc["metadata"]["name"]) == (patch["kind"], patch["metadata"]["name"]):
                patched[i] = (name, merge(doc, patch))
    pod = _deployment(patched)["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert (
        anti[0]["labelSelector"]["matchLabels"]
        == _deployment(patched)["spec"]["selector"]["matchLabels"]
    )
    assert schema_problems(patched, K8S_VERSIONS[0]) == []
    assert wiring_problems(patched) == []


# ---- Dockerfile (no daemon here: read, not built) -----------------------------------------


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            logical.append(current.strip())
            current = ""
    return [(w.split(None, 1)[0].upper(), w.split(None, 1)[1]) for w in logical]


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text())


def test_every_copy_source_exists_and_is_in_the_build_context(
    dockerfile: list[tuple[str, str]],
) -> None:
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ".env" in ignored and ".venv" in ignored  # secrets and the host's venv stay out
    copies = [args.split() for op, args in dockerfile if op == "COPY" and "--from" not in args]
    assert copies
    for words in copies:
        for source in words[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert not any(fnmatch.fnmatch(source, p) for p in ignored), f"{source} is ignored"


def test_the_image_is_built_by_the_makefile_and_runs_as_non_root(
    dockerfile: list[tuple[str, str]],
) -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "STAMP   = $(VENV)/.installed" in makefile and "\n$(STAMP):" in makefile
    assert "\nllama-wheel:" in makefile
    runs = [args for op, args in dockerfile if op == "RUN"]
    assert any("make llama-wheel" in r for r in runs)
    assert any("make .venv/.installed" in r for r in runs)
    assert next(a.split()[0] for op, a in dockerfile if op == "FROM") == "${BASE}"
    assert "ARG BASE=python:3.11-slim" in DOCKERFILE.read_text()
    user = [args for op, args in dockerfile if op == "USER"][-1]
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) != 0
    assert [args for op, args in dockerfile if op == "EXPOSE"] == ["7860"]
    healthcheck = [args for op, args in dockerfile if op == "HEALTHCHECK"]
    assert len(healthcheck) == 1 and "127.0.0.1:7860/healthz" in healthcheck[0]


def serve_flags(dockerfile: list[tuple[str, str]], resources: list[tuple[str, Doc]]) -> set[str]:
    cmd = json.loads([args for op, args in dockerfile if op == "CMD"][-1])
    app = _deployment(resources)["spec"]["template"]["spec"]["containers"][0]
    assert cmd[0] == "serve" and app["args"][0] == "serve"
    for target in (cmd[1], app["args"][1]):
        assert (ROOT / target).is_file() and target.startswith("examples/")  # COPY'd into /app
    assert flag_value(cmd, "--port") == flag_value(app["args"], "--port") == "7860"
    return {w for w in cmd + app["args"] if w.startswith("--")}


def test_the_image_and_the_deployment_run_flags_that_voicebot_serve_has(
    dockerfile: list[tuple[str, str]], resources: list[tuple[str, Doc]]
) -> None:
    """Checked against the real ``voicebot serve --help``; a flag it does not list yet skips
    (the server's flags land in parallel), a broken --help fails."""
    help_text = subprocess.run(
        [sys.executable, "-m", "voicebot.cli", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    known = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", help_text))
    assert "--host" in known and "--port" in known
    missing = sorted(serve_flags(dockerfile, resources) - known)
    if missing:
        pytest.skip(
            f"voicebot serve --help has no {', '.join(missing)} yet (the CLI lands in parallel)"
        )


def test_deploy_docs_link_privacy_and_size_from_measurements() -> None:
    docs = (ROOT / "docs" / "deploy.md").read_text()
    assert "(privacy.md)" in docs
    section = docs.split("## Sizing (measured)\n", 1)[1].split("\n## ", 1)[0]
    # Every figure names the command that measured it, and its results file exists.
    assert "python -m benchmarks.serve_load" in section
    for results in re.findall(r"benchmarks/results/[\w.]+\.json", section):
        assert (ROOT / results).is_file(), results
