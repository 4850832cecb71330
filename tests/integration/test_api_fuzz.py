"""A short schemathesis run: requests generated from the OpenAPI document never get a 500,
and every answer conforms to what the document says."""

from __future__ import annotations

import asyncio
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from schemathesis.checks import not_a_server_error

from gateway.api.openapi import document
from gateway.app import Running, utcnow
from tests.support.gateway import SENDER

EXAMPLES = 25  # per operation: a short run, on each database


async def test_generated_requests_get_documented_answers_and_never_a_500(
    gateway: Running,
) -> None:
    """For every operation, schemathesis' generated requests (with a live token) are answered
    without a server error and as the document describes (status codes, content types)."""
    registry, api = gateway.registry, gateway.api
    assert api is not None
    assert gateway.webhooks is not None
    gateway.webhooks.stop()  # generated webhook URLs are registered, never posted to
    account = await registry.io(registry.senders.account_record, SENDER)
    assert account is not None
    token = (await registry.io(api.create_token, account, "fuzz", utcnow())).token
    schema = schemathesis.openapi.from_dict(document())
    failures: list[str] = []

    def run() -> None:
        for result in schema.get_all_operations():
            operation = result.ok()  # type: ignore[union-attr]

            @hypothesis.settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def check(case: schemathesis.Case[Any]) -> None:
                response = case.call(
                    base_url=f"{gateway.web_url}/api/v1",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=10,
                )
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path}: {response.text[:200]}")
                case.validate_response(response, checks=[not_a_server_error])

            check()

    await asyncio.to_thread(run)
    assert failures == []


# schemathesis' own strategies use `random`, which hypothesis reports as deprecated
pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]
