"""Write the OpenAPI document the API serves at /schema/openapi.json, without serving it.

For the checks that read it from a file (Redocly, openapi-typescript: ``make openapi``).
Building the app opens no connection, so no database or Redis is needed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from api.app import create_app
from api.openapi import finish


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output", type=Path, help="where to write the document (JSON)")
    args = parser.parse_args()
    document = finish(create_app().openapi_schema.to_schema())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
