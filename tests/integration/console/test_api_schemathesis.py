"""Property-based API test: requests generated from /api/v1/openapi.json never cause a server error or a
response that breaks the document (status codes, content types, headers, bodies), and invalid input is refused."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.console.conftest import bearer

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]
EXAMPLES_PER_OPERATION = {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 8}


def test_api_conforms_to_its_openapi_document(console_app, world, tokens, requests_by_resident):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", console_app)
    headers = bearer(tokens.admin)  # the admin reaches every object, so generated ids can hit real rows
    # Valid cases are pointed at real rows so that success responses are checked too, not only 404s.
    real = {"request_id": sorted(requests_by_resident.values()), "resident_id": [r.id for r in world.residents],
            "household_id": [h.id for h in world.households], "courtyard_id": [c.id for c in world.courtyards] * 3}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 16
    for operation in operations:
        for mode, examples in EXAMPLES_PER_OPERATION.items():

            @given(case=operation.as_strategy(generation_mode=mode), pick=st.integers(min_value=0, max_value=5))
            @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def check(case, pick: int) -> None:
                if case.meta is not None and case.meta.generation.mode.is_positive:
                    for name in case.path_parameters or {}:
                        if name in real:  # ids of boards the world has no rows of stay generated (404s)
                            case.path_parameters[name] = real[name][pick]
                    for name in ("resident_id", "household_id", "courtyard_id"):
                        if isinstance(case.body, dict) and name in case.body:
                            case.body[name] = real[name][pick]
                # A case whose headers are deliberately wrong (e.g. no Authorization) is sent as generated.
                header = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
                sent = {} if header is not None and header.mode.is_negative else headers
                case.call_and_validate(headers=sent, checks=CHECKS)

            check()
