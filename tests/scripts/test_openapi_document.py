"""``scripts/openapi_document.py`` (make openapi) writes the very document the API serves."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tests.api.expect import Client

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "openapi_document.py"


async def test_the_written_document_is_the_served_one(client: Client, tmp_path: Path) -> None:
    target = tmp_path / "openapi.json"
    script = await asyncio.create_subprocess_exec(sys.executable, str(SCRIPT), str(target), cwd=tmp_path)
    assert await asyncio.wait_for(script.wait(), timeout=120) == 0
    served = (await client.get("/schema/openapi.json")).json()
    assert json.loads(target.read_text()) == served
