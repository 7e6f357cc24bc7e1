"""Request and response shapes of the API, one module per resource (they also feed the OpenAPI schema)."""
