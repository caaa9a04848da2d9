"""The OpenAPI document is the contract intake systems and tools are built from: schemathesis
generates requests from it (valid ones and broken ones) and checks every answer against it:
no 5xx, only documented status codes, bodies and content types as documented, schema-valid
requests accepted and schema-violating ones refused."""
from __future__ import annotations

import base64
import json
import os
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from schemathesis.core.parameters import ParameterLocation

from conftest import API_KEY

OPERATOR, PASSWORD = "kontrak-admin", "kata-sandi-kontrak-123"
# Per operation and mode; the same examples every run (derandomized), more with CONTRACT_EXAMPLES=500.
EXAMPLES = int(os.environ.get("CONTRACT_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def contract_app(trained_model_dir, tmp_path_factory):
    from classifier import accounts
    from classifier.serve import create_app

    database = tmp_path_factory.mktemp("contract") / "laksa.db"
    app = create_app({"LAKSA_MODEL_DIR": str(trained_model_dir), "LAKSA_DATABASE_URL": f"sqlite:///{database}",
                      "LAKSA_API_KEYS": API_KEY, "LAKSA_SECRET_KEY": "contract-secret",
                      "LAKSA_LOGIN_RATE": "100000/minute"})  # generated calls without credentials are expected
    accounts.create_operator(app.extensions["laksa_sessions"], OPERATOR, PASSWORD, "admin", by="test")
    return app


CREDENTIALS = {"X-API-Key": API_KEY,
               "Authorization": "Basic " + base64.b64encode(f"{OPERATOR}:{PASSWORD}".encode()).decode()}


def test_every_reference_in_the_document_resolves(contract_app):
    document = contract_app.test_client().get("/openapi.json").json
    referenced = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(document)))
    assert referenced and referenced <= set(document["components"]["schemas"])


def test_an_unstorable_value_on_any_route_gets_the_documented_error(contract_app):
    # The input guard answers every route, also those without parameters; and every route that reads
    # the database documents its 503. The generated requests below rarely hold a NUL character.
    client = contract_app.test_client()
    document = client.get("/openapi.json").json
    error = {"$ref": "#/components/schemas/ErrorOut"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["responses"]["422"]["content"]["application/json"]["schema"] == error, (method, path)
            if path != "/health" and not path.startswith(("/model", "/metrics", "/predict")):
                assert "503" in operation["responses"], (method, path)
            answer = client.open(re.sub(r"\{[^}]+\}", "x", path) + "?probe=%00", method=method.upper(),
                                 headers=CREDENTIALS, json={} if method == "post" else None)
            assert answer.status_code == 422 and answer.json["error"] == "unstorable_value", (method, path)


def checks_left_out(operation) -> list:
    """Checks whose verdict would be wrong for this operation:
    - accepting every schema-valid request, where 422s also follow rules no JSON schema can state: a
      batch's items each need their own external_id; the operators' calls depend on the registry's
      codes, who is signed in, the password policy and calendar dates;
    - refusing every schema-violating request, where there are query parameters: a query string
      holds only strings, so a value mutated to a number, list or object often arrives as a valid
      string (schemathesis issues 3962, 4600). tests/test_operators.py refuses bad ones explicitly."""
    left_out = []
    if operation.label == "POST /predict/batch" or "operators" in (operation.tags or ()):
        left_out.append(positive_data_acceptance)
    if any(parameter.location == ParameterLocation.QUERY for parameter in operation.iter_parameters()):
        left_out.append(negative_data_rejection)
    return left_out


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda mode: mode.value)
def test_every_answer_matches_the_openapi_document(contract_app, mode):
    # schemathesis' own pytest loader (from_fixture) fails under pytest 9, so each operation's
    # strategy is run here; every operation is tried even when an earlier one fails.
    failures = {}
    for operation in schemathesis.openapi.from_wsgi("/openapi.json", contract_app).get_all_operations():
        operation = operation.ok()
        left_out = checks_left_out(operation)

        @given(case=operation.as_strategy(mode))
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def answers_as_documented(case):
            case.call_and_validate(headers=CREDENTIALS, excluded_checks=left_out)

        try:
            answers_as_documented()
        except Unsatisfiable as failure:  # fine where there is no input at all to make invalid
            if list(operation.iter_parameters()) or operation.get_request_payload_content_types():
                failures[operation.label] = str(failure)[:2000]
        except (Exception, BaseExceptionGroup) as failure:  # schemathesis groups failures of one example
            failures[operation.label] = str(failure)[:2000]
    assert not failures, "\n\n".join(f"{label}: {problem}" for label, problem in failures.items())
