"""The OpenAPI schema and its docs are served without a key and without a CDN."""

import pytest

pytestmark = pytest.mark.django_db


def test_the_schema_is_public(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.") and schema["info"]["version"] == "1.0.0"


def test_the_docs_page_loads_its_assets_from_this_server(client):
    page = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()


def schema(client) -> dict:
    return client.get("/api/schema/", HTTP_ACCEPT="application/json").json()


def test_the_bearer_key_scheme_is_described_once(client):
    schemes = schema(client)["components"]["securitySchemes"]
    assert schemes == {
        "ApiKey": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key created by an Administrator: `Authorization: Bearer wak_…`.",
        }
    }


OPERATIONS = [
    ("/api/v1/contacts/", "get", {200, 400}),
    ("/api/v1/contacts/", "post", {200, 201, 400, 415, 422}),
    ("/api/v1/contacts/{contact_id}/", "get", {200, 404}),
    ("/api/v1/contacts/bulk/", "post", {200, 400, 415}),
    ("/api/v1/templates/", "get", {200}),
]


@pytest.mark.parametrize("path,method,statuses", OPERATIONS, ids=[f"{m} {p}" for p, m, _ in OPERATIONS])
def test_each_endpoint_names_its_key_and_every_error_in_the_one_shape(client, path, method, statuses):
    operation = schema(client)["paths"][path][method]
    assert operation["security"] == [{"ApiKey": []}]
    responses = operation["responses"]
    assert {int(code) for code in responses} == statuses | {401, 403, 429}
    for code, response in responses.items():
        if int(code) >= 400:
            assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_the_error_shape(client):
    components = schema(client)["components"]["schemas"]
    assert components["Error"]["required"] == ["error"]
    detail = components["ErrorDetail"]
    assert set(detail["properties"]) == {"code", "message", "field", "details"}
    assert detail["required"] == ["code", "message"]
