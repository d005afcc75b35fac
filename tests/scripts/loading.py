"""The repository's scripts as modules, for tests of their functions.

``scripts/`` is no package: its files are run, not imported, so a test loads one by path.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def load_script(name: str) -> Any:
    """``scripts/<name>.py``, executed as a fresh module (its ``main`` guarded, so nothing runs)."""
    spec = importlib.util.spec_from_file_location(f"{name}_script", SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
