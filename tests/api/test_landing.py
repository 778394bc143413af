"""The landing page and conformance say what the service is: its OpenAPI version included."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

OAS30 = "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/oas30"


def test_service_desc_names_the_openapi_version_served(api: httpx.Client) -> None:
    links = {link["rel"]: link for link in api.get("/api").json()["links"]}
    described = links["service-desc"]
    document = api.get(urlsplit(described["href"]).path)
    assert document.status_code == 200
    major_minor = ".".join(document.json()["openapi"].split(".")[:2])
    assert described["type"] == f"application/vnd.oai.openapi+json;version={major_minor}"


def test_conformance_claims_oas30_only_for_an_openapi_30_document(api: httpx.Client) -> None:
    classes = api.get("/conformance").json()["conformsTo"]
    version = api.get("/openapi.json").json()["openapi"]
    assert (OAS30 in classes) == version.startswith("3.0")
    assert "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core" in classes


def test_the_processes_landing_page_links_the_stac_api(api: httpx.Client) -> None:
    links = {link["rel"]: link for link in api.get("/api").json()["links"]}
    root = api.get(urlsplit(links["root"]["href"]).path, headers={"Accept": "application/json"})
    assert root.status_code == 200 and root.json()["type"] == "Catalog"
    search = api.get(urlsplit(links["search"]["href"]).path)
    assert search.status_code == 200 and search.json()["type"] == "FeatureCollection"


def test_the_openapi_document_describes_every_error_as_the_problem_it_is(
    api: httpx.Client,
) -> None:
    document = api.get("/openapi.json").json()
    errors = [(path, method, code, response)
              for path, operations in document["paths"].items()
              for method, operation in operations.items()
              for code, response in operation["responses"].items() if code[0] in "45"]
    assert len(errors) > 20
    for path, method, code, response in errors:
        assert list(response["content"]) == ["application/problem+json"], (path, method, code)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert document["components"]["schemas"]["Problem"]["required"] == ["type", "title",
                                                                        "status"]
    # Answered and now said: a body that is not JSON (bytes that are not UTF-8), a job that
    # does not exist.
    order = document["paths"]["/processes/{process_id}/execution"]["post"]["responses"]
    assert {"400", "404", "422"} <= set(order)
    problem = api.post("/processes/synthesis/execution", content=b"\x0c\xff\xfe\x1e",
                       headers={"Content-Type": "application/json"})
    assert problem.status_code == 400
    assert problem.headers["content-type"] == "application/problem+json"
