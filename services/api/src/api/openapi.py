"""What the OpenAPI document says beyond Litestar's defaults, so that it describes real responses."""

from __future__ import annotations

import msgspec
from litestar._openapi.schema_generation import SchemaCreator

# Litestar's own plugin for msgspec Structs has no public import path (2.x); uv.lock pins it.
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Schema
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute
from litestar.typing import FieldDefinition

from api.schemas import ErrorBody


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


UNSUPPORTED_MEDIA_TYPE = ResponseSpec(
    data_container=ErrorBody, description="the body is not sent as application/json (or a +json type)"
)


class JSONBodyResponsesPlugin(ReceiveRoutePlugin):
    """Every operation that takes a JSON body documents the 415 :mod:`api.body` answers without one.

    Added as routes are registered, so no route module has to remember it.
    """

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        for handler in route.route_handlers:
            if "data" in handler.parsed_fn_signature.parameters:
                handler.responses = {**(handler.responses or {}), 415: UNSUPPORTED_MEDIA_TYPE}
