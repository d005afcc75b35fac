"""``make k8s``: render every overlay of deploy/k8s and validate it, with no cluster.

For each overlay (tests/deploy/manifests.py renders it from a copy, with the secrets
example in place of secrets.env):

1. ``kubectl kustomize`` renders it;
2. ``kubernetes-validate --strict`` checks every built-in kind against Kubernetes'
   schemas (an unknown field fails);
3. ``check-jsonschema`` checks the ScaledObject and TriggerAuthentication against the
   ``openAPIV3Schema`` of KEDA's published CRDs, read from ``../shared/k8s/crds`` beside
   the repository (``K8S_CRD_DIR`` overrides), never copied into it.

The rules a manifest must also keep (probes, security, settings, images, grace periods)
are tests/deploy/test_k8s_manifests.py, which `make k8s` runs next.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.deploy.manifests import OVERLAYS, documents, render  # noqa: E402

CRD_DIR = Path(os.environ.get("K8S_CRD_DIR", ROOT.parent / "shared" / "k8s" / "crds"))
KEDA_CRDS = {
    "ScaledObject": "keda.sh_scaledobjects.yaml",
    "TriggerAuthentication": "keda.sh_triggerauthentications.yaml",
}


def strict(schema: Any) -> Any:
    """The schema refusing unknown fields, as ``kubectl apply`` (strict field validation) does.

    A CRD's schema lists the fields it knows but does not forbid others (the API server
    prunes or, under strict validation, refuses them), so a misspelt key would pass
    check-jsonschema unnoticed without this.
    """
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    tightened = {key: strict(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        tightened["additionalProperties"] = False
    return tightened


def crd_schema(kind: str) -> dict[str, Any]:
    """The openAPIV3Schema of the version the API server stores (v1alpha1), made strict."""
    crd = yaml.safe_load((CRD_DIR / KEDA_CRDS[kind]).read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
    schema: dict[str, Any] = strict(version["schema"]["openAPIV3Schema"])
    return schema


def run(argv: list[str]) -> None:
    print("$ " + " ".join(argv), flush=True)
    subprocess.run(argv, check=True)


def check(overlay: str, work: Path) -> None:
    rendered = render(overlay, work)
    out = work / overlay
    out.mkdir()
    (out / "all.yaml").write_text(rendered)
    docs = documents(rendered)
    print(f"overlays/{overlay}: rendered {len(docs)} objects: " + ", ".join(sorted({d["kind"] for d in docs})))
    run(["kubernetes-validate", "--strict", "--quiet", str(out / "all.yaml")])
    for kind in KEDA_CRDS:
        found = [d for d in docs if d["kind"] == kind]
        if not found:
            raise SystemExit(f"overlays/{overlay} renders no {kind}")
        schema = out / f"{kind}.schema.json"
        schema.write_text(json.dumps(crd_schema(kind)))
        files = []
        for doc in found:
            path = out / f"{kind}-{doc['metadata']['name']}.json"
            path.write_text(json.dumps(doc))
            files.append(str(path))
        run(["check-jsonschema", "--schemafile", str(schema), *files])


def main() -> int:
    if not CRD_DIR.is_dir():
        print(f"KEDA's CRDs are not at {CRD_DIR} (set K8S_CRD_DIR)", file=sys.stderr)
        return 1
    try:
        with tempfile.TemporaryDirectory(prefix="wadah-k8s-") as tmp:
            for overlay in OVERLAYS:
                check(overlay, Path(tmp))
    except (subprocess.CalledProcessError, RuntimeError, FileNotFoundError) as exc:
        print(f"k8s check failed: {exc}", file=sys.stderr)
        return 1
    print("k8s: every overlay renders and validates")
    return 0


if __name__ == "__main__":
    sys.exit(main())
