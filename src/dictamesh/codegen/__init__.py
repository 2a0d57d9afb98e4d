"""Code and document generators (``dictamesh codegen ...``): ``codegen.openapi`` writes the
REST API's OpenAPI 3.1 document."""

__all__: list[str] = []
