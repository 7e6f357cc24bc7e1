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
