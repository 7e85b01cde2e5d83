"""The ingest API's OpenAPI document, served at `GET /openapi.json`.

Written from the route table and the event schemas (`pulse.events.jsonschema`), not by hand,
so it cannot drift from what the API checks; clients generate from it, and the API fuzz test
(`tests/security/test_fuzz.py`) draws its requests from it.
"""

from __future__ import annotations

from typing import Any

from pulse.events import SCHEMAS
from pulse.events.domains import EMOJI, PRODUCT
from pulse.events.jsonschema import event_json_schema
from pulse.services.auth import HEADER

_PROBLEM = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    "required": ["error", "message"],
}
_REFUSALS = {
    "401": "no valid API key",
    "413": "the body is larger than ingest.max_body_bytes, or a batch larger than the key's burst",
    "422": "not valid JSON, or an event that breaks its schema: the field and value are named",
    "429": "the key sent more than its rate; Retry-After says when to try again",
    "503": "the API holds as many events as it may (queue full) or is stopping; Retry-After",
}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the ingest API."""
    domains = sorted(SCHEMAS)
    schemas = {f"{domain}_event": event_json_schema(SCHEMAS[domain]) for domain in domains}
    schemas["emoji_reaction"] = event_json_schema(EMOJI, without=(EMOJI.id_field,))
    schemas["problem"] = _PROBLEM
    any_event = {"oneOf": [_ref(f"{domain}_event") for domain in domains]}
    domain_parameter = {
        "name": "domain",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": domains},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Pulse ingest API",
            "version": "1",
            "description": "Events into Pulse's Kafka topics: validated, acknowledged with 202 "
            "once held, delivered to Kafka within ingest.flush_interval_ms.",
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": HEADER}},
        },
        "paths": {
            "/health": {"get": _operation("health", "the API runs", public=True)},
            "/metrics": {"get": _operation("metrics", "Prometheus text", public=True)},
            "/v1/emoji": {
                "post": _operation(
                    "post_emoji", "one reaction; the id is assigned", body=_ref("emoji_reaction")
                )
            },
            "/v1/events/{domain}": {
                "post": _operation(
                    "post_event",
                    "one event of the domain",
                    body=any_event,
                    parameters=[domain_parameter],
                )
            },
            "/v1/events/{domain}:batch": {
                "post": _operation(
                    "post_batch",
                    "events of the domain, all accepted or none",
                    body={"type": "array", "minItems": 1, "items": any_event},
                    parameters=[domain_parameter],
                )
            },
            "/v1/products/{product_id}": {
                "post": _operation(
                    "post_product",
                    "a change of the product named in the path",
                    body=_ref("product_event"),
                    parameters=[
                        {
                            "name": "product_id",
                            "in": "path",
                            "required": True,
                            "schema": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": PRODUCT.field("product_id").max_length,
                            },
                        }
                    ],
                )
            },
        },
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _operation(
    operation_id: str,
    summary: str,
    *,
    body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    public: bool = False,
) -> dict[str, Any]:
    problem = {"application/json": {"schema": _ref("problem")}}
    if body is None:
        responses: dict[str, dict[str, Any]] = {"200": {"description": "OK"}}
    else:
        responses = {"202": {"description": "accepted: held, and sent to Kafka shortly"}}
        responses |= {
            code: {"description": why, "content": problem} for code, why in _REFUSALS.items()
        }
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "responses": responses,
    }
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    operation["security"] = [] if public else [{"apiKey": []}]
    return operation
