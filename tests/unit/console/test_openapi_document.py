"""The OpenAPI document: built from the same models the API validates, with the configured request types."""

from console.openapi import build_openapi


def test_every_transition_is_documented_with_json_errors():
    doc = build_openapi(["help", "repair"])
    for action in ("assign", "start", "resolve", "evaluate", "close", "reopen"):
        op = doc["paths"][f"/requests/{{request_id}}/{action}"]["post"]
        assert {"200", "401", "404", "409", "422"} <= set(op["responses"])
        assert op["responses"]["404"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorOut"}


def test_request_types_come_from_configuration():
    doc = build_openapi(["help", "repair"])
    assert doc["components"]["schemas"]["RequestCreate"]["properties"]["type"]["enum"] == ["help", "repair"]
    assert doc["components"]["schemas"]["RequestCreate"]["additionalProperties"] is False


def test_every_reference_resolves():
    doc = build_openapi(["help"])
    refs = set()

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"].rsplit("/", 1)[1])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert refs <= set(doc["components"]["schemas"])
