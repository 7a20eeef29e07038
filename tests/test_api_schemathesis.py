"""The REST API against its own OpenAPI schema, with generated requests (schemathesis 4, in-process).

Every operation of /api/v1/openapi.json is called with requests schemathesis builds from the schema
(its examples, boundary values and random data; a small fixed number per operation, derandomised:
the same requests on every run), through Django's WSGI application, as a facilitator with a real
token, on the lakeland example with planning data (sites, links, a sensitive species and site, a
stakeholder and a commitment). Each answer must not be a server error, must have a status code and
content type the schema declares, must match the declared response schema, and must never be 401
or 403 (the token works and the role allows every operation).
"""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.test_api import OPEN_TAXON, PROJECT, csv_assessments, lakeland_with_planning, make_user

pytestmark = pytest.mark.django_db(transaction=True)

#: generated requests per operation: small enough for CI on two cores
EXAMPLES = 12


def _load_schema():  # noqa: ANN202 - OpenApiSchema
    """The schema, read from the app at collection time (making it needs no database)."""
    from django.core.wsgi import get_wsgi_application

    loaded = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    # path parameters fixed to records of the example project, so that answers are real records
    # (random ids would only ever meet 404); query parameters and bodies are generated
    loaded.config.update(
        parameters={
            "slug": PROJECT,
            "taxon_id": OPEN_TAXON,
            "assessment_id": csv_assessments()[OPEN_TAXON]["assessmentId"],
            "site_id": "VL01",
            "commitment_id": "C1",
        }
    )
    return loaded


schema = _load_schema()


@pytest.fixture
def auth_headers(settings) -> dict[str, str]:
    """The example project with planning data, and a facilitator's token (writes are tried too)."""
    from assess2plan.web.api.tokens import create_token
    from assess2plan.web.app import derived

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    derived.forget()
    project = lakeland_with_planning()
    user = make_user("fuzz", project, "facilitator")
    return {"Authorization": f"Bearer {create_token(user, 'schemathesis')}"}


@schema.parametrize()
@hypothesis.settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_api_conforms_to_its_schema(case, auth_headers):
    response = case.call_and_validate(
        headers=auth_headers,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
    assert response.status_code not in (401, 403), (case.method, case.path, response.text[:300])
