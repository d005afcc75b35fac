"""What the OpenAPI document says beyond Litestar's defaults, so that it describes real responses."""

from __future__ import annotations

import msgspec
from litestar._openapi.schema_generation import SchemaCreator

# Litestar's own plugin for msgspec Structs has no public import path (2.x); uv.lock pins it.
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.spec import Schema
from litestar.typing import FieldDefinition


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Request bodies that refuse unknown fields say so: ``additionalProperties: false``.

    Litestar leaves it out, which documents that any extra field is accepted when the API
    answers it with a 400 (``forbid_unknown_fields``).
    """

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields:
            schema.additional_properties = False
        return schema
