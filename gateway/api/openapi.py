"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json (hand-written)."""

from __future__ import annotations

from typing import Any

from gateway.core.evidence import EvidenceType
from gateway.core.letter import State

_PROBLEM = {"$ref": "#/components/responses/Problem"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problems(*codes: int) -> dict[str, Any]:
    return {str(code): _PROBLEM for code in codes}


def _time() -> dict[str, Any]:
    return {"type": ["string", "null"], "format": "date-time"}


def document() -> dict[str, Any]:
    states = [s.value for s in State]
    events = [e.value for e in EvidenceType]
    recipient = {
        "type": "object",
        "required": ["address", "state"],
        "properties": {
            "address": {"type": "string", "format": "email"},
            "state": {"type": "string", "enum": states},
            "deadline": _time(),
            "notified_at": _time(),
            "decided_at": _time(),
            "handed_over_at": _time(),
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "LRE Gateway API",
            "version": "1",
            "summary": "Deposit registered letters, follow them, download their proofs.",
            "description": "Authenticate with a per-sender token: `Authorization: Bearer lre_...`"
            " (`lre-gateway sender token create EMAIL`). Errors are RFC 9457 problem details. "
            "Every event of a sender's letters is also POSTed to its webhooks, signed per the "
            "Standard Webhooks convention.",
            "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"token": []}],
        "paths": {
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "security": [],
                    "responses": {"200": _json({"type": "object"}, "The OpenAPI document")},
                }
            },
            "/letters": {
                "post": {
                    "summary": "Deposit a registered letter",
                    "operationId": "deposit",
                    "description": "As an RFC 5322 message (its To: and Cc: are the recipients, "
                    "From: the token's account; LRE-Recipient-Phone and LRE-Recipient-Language "
                    "headers as by SMTP), or as a form: a JSON part `letter` and files.",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": "Same key and body: the same letter, never two; "
                            "same key, another body: 422.",
                            "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "message/rfc822": {"schema": {"type": "string"}},
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["letter"],
                                    "properties": {
                                        "letter": _ref("LetterFields"),
                                        "attachment": {
                                            "type": "array",
                                            "items": {"type": "string", "format": "binary"},
                                        },
                                    },
                                },
                                "encoding": {"letter": {"contentType": "application/json"}},
                            },
                        },
                    },
                    "responses": {
                        "201": _json(_ref("Deposited"), "The letter is deposited"),
                        "200": _json(_ref("Deposited"), "Replay of an earlier Idempotency-Key"),
                        **_problems(401, 413, 415, 422, 429),
                    },
                },
                "get": {
                    "summary": "The account's letters, newest first",
                    "operationId": "listLetters",
                    "parameters": [
                        {"name": "state", "in": "query", "schema": {"enum": states}},
                        {"name": "recipient", "in": "query", "schema": {"type": "string"}},
                        {"name": "since", "in": "query", "schema": {"format": "date-time"}},
                        {"name": "until", "in": "query", "schema": {"format": "date-time"}},
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                        },
                    ],
                    "responses": {
                        "200": _json(_ref("LetterPage"), "One page of letters"),
                        **_problems(401, 422, 429),
                    },
                },
            },
            "/letters/{reference}": {
                "get": {
                    "summary": "One letter: each recipient's state and events",
                    "operationId": "getLetter",
                    "parameters": [
                        {
                            "name": "reference",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": _json(_ref("Letter"), "The letter"),
                        **_problems(401, 404, 429),
                    },
                }
            },
            "/evidence/{evidence_id}/{form}": {
                "get": {
                    "summary": "A proof: the signed XML, its CAdES seal, or the PDF certificate",
                    "operationId": "getProof",
                    "parameters": [
                        {
                            "name": "evidence_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "form",
                            "in": "path",
                            "required": True,
                            "schema": {"enum": ["evidence.xml", "evidence.xml.p7s", "proof.pdf"]},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The proof",
                            "content": {
                                "application/xml": {},
                                "application/pkcs7-signature": {},
                                "application/pdf": {},
                            },
                        },
                        **_problems(401, 404, 409, 429),
                    },
                }
            },
            "/webhooks": {
                "get": {
                    "summary": "The account's webhook endpoints",
                    "operationId": "listWebhooks",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "webhooks": {"type": "array", "items": _ref("Webhook")}
                                },
                            },
                            "The endpoints",
                        ),
                        **_problems(401, 429),
                    },
                },
                "post": {
                    "summary": "Register an endpoint; the answer shows its secret, once",
                    "operationId": "addWebhook",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["url"],
                                    "properties": {"url": {"type": "string", "format": "uri"}},
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json(_ref("Webhook"), "The endpoint, with its whsec_ secret"),
                        **_problems(401, 422, 429),
                    },
                },
            },
            "/webhooks/{endpoint_id}": {
                "delete": {
                    "summary": "Remove an endpoint and its queue",
                    "operationId": "removeWebhook",
                    "parameters": [
                        {
                            "name": "endpoint_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {"204": {"description": "Removed"}, **_problems(401, 404, 429)},
                }
            },
            "/webhooks/{endpoint_id}/enable": {
                "post": {
                    "summary": "Enable again an endpoint disabled after repeated failures; its "
                    "queued events are posted from where they stopped",
                    "operationId": "enableWebhook",
                    "parameters": [
                        {
                            "name": "endpoint_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": _json(_ref("Webhook"), "The endpoint, enabled"),
                        **_problems(401, 404, 429),
                    },
                }
            },
        },
        "webhooks": {
            "letterEvent": {
                "post": {
                    "summary": "An event of one of the sender's letters (ETSI EN 319 522 name)",
                    "description": "Headers webhook-id, webhook-timestamp, webhook-signature "
                    "(v1,base64 HMAC-SHA256 of id.timestamp.body, key: the whsec_ secret). "
                    "At least once, in order per letter: deduplicate by webhook-id.",
                    "requestBody": {
                        "content": {"application/json": {"schema": _ref("WebhookEvent")}}
                    },
                    "responses": {"2XX": {"description": "Received; anything else is retried"}},
                }
            }
        },
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Problem": {
                    "description": "RFC 9457 problem details",
                    "content": {"application/problem+json": {"schema": _ref("Problem")}},
                }
            },
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "detail"],
                    "properties": {
                        "type": {"type": "string", "format": "uri"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "instance": {"type": "string"},
                    },
                },
                "LetterFields": {
                    "type": "object",
                    "required": ["subject", "recipients"],
                    "additionalProperties": False,
                    "properties": {
                        "subject": {"type": "string", "minLength": 1, "maxLength": 998},
                        "text": {"type": "string"},
                        "recipients": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "required": ["address"],
                                "additionalProperties": False,
                                "properties": {
                                    "address": {"type": "string", "format": "email"},
                                    "phone": {"type": "string"},
                                    "language": {"enum": ["fr", "en", "ar"]},
                                },
                            },
                        },
                    },
                },
                "Deposited": {
                    "type": "object",
                    "required": ["reference", "url"],
                    "properties": {"reference": {"type": "string"}, "url": {"type": "string"}},
                },
                "Recipient": recipient,
                "LetterSummary": {
                    "type": "object",
                    "properties": {
                        "reference": {"type": "string"},
                        "url": {"type": "string"},
                        "subject": {"type": "string"},
                        "deposited_at": {"type": "string", "format": "date-time"},
                        "recipients": {"type": "array", "items": _ref("Recipient")},
                    },
                },
                "LetterPage": {
                    "type": "object",
                    "properties": {
                        "letters": {"type": "array", "items": _ref("LetterSummary")},
                        "next_cursor": {"type": ["string", "null"]},
                    },
                },
                "Event": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "type": {"enum": events},
                        "time": {"type": "string", "format": "date-time"},
                        "sealed": {"type": "boolean"},
                        "proofs": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                },
                "Letter": {
                    "type": "object",
                    "properties": {
                        "reference": {"type": "string"},
                        "subject": {"type": "string"},
                        "deposited_at": {"type": "string", "format": "date-time"},
                        "sender": {"type": "object"},
                        "message": {"type": "object"},
                        "attachments": {"type": "array", "items": {"type": "object"}},
                        "recipients": {
                            "type": "array",
                            "items": {
                                "allOf": [
                                    _ref("Recipient"),
                                    {
                                        "type": "object",
                                        "properties": {
                                            "events": {"type": "array", "items": _ref("Event")}
                                        },
                                    },
                                ]
                            },
                        },
                    },
                },
                "Webhook": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "url": {"type": "string"},
                        "secret": {"type": "string"},
                        "created_at": {"type": "string", "format": "date-time"},
                        "disabled_at": _time(),
                        "disabled_reason": {"type": ["string", "null"]},
                    },
                },
                "WebhookEvent": {
                    "type": "object",
                    "required": ["type", "timestamp", "data"],
                    "properties": {
                        "type": {"enum": events},
                        "timestamp": {"type": "string", "format": "date-time"},
                        "data": {
                            "type": "object",
                            "properties": {
                                "letter": {"type": "string"},
                                "recipient": {"type": "string"},
                                "evidence_id": {"type": "string"},
                                "channel": {"enum": ["email", "sms"]},
                                "url": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
    }
