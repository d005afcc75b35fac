from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.deploy.manifests import OVERLAYS, Manifest, documents, render


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Manifest]]:
    """Every overlay, rendered once per run (`make k8s` and CI have kubectl; elsewhere these tests skip)."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed: the manifests cannot be rendered (make k8s requires it)")
    work: Path = tmp_path_factory.mktemp("k8s")
    return {overlay: documents(render(overlay, work)) for overlay in OVERLAYS}
