"""Rendering deploy/k8s offline: what `make k8s` and the manifest tests read.

An overlay needs its git-ignored secrets.env to render. The checks never read a real
one: each render works on a copy of deploy/k8s in a temporary directory, where every
overlay's secrets.env is its committed example (keys, no values).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
Manifest = dict[str, Any]


def render(overlay: str, workdir: Path) -> str:
    """``kubectl kustomize`` of one overlay, as YAML text."""
    copy = workdir / "k8s"
    if not copy.exists():
        shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns("secrets.env"))
        for example in copy.glob("overlays/*/secrets.env.example"):
            shutil.copyfile(example, example.with_name("secrets.env"))
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise FileNotFoundError("kubectl is not on PATH (it renders the kustomizations)")
    result = subprocess.run(
        [kubectl, "kustomize", str(copy / "overlays" / overlay)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize overlays/{overlay} failed:\n{result.stderr}")
    return result.stdout


def documents(rendered: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(rendered) if doc]
