"""The ingest API's routing: paths to route templates (the metric labels) and parameters."""

from __future__ import annotations

import pytest

from pulse.services.ingest.app import ROUTES, match_route


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/emoji", ("/v1/emoji", {})),
        ("/health", ("/health", {})),
        ("/v1/events/media", ("/v1/events/{domain}", {"domain": "media"})),
        ("/v1/events/media:batch", ("/v1/events/{domain}:batch", {"domain": "media"})),
        ("/v1/products/sku 9", ("/v1/products/{product_id}", {"product_id": "sku 9"})),
        ("/v1/events/", None),
        ("/v1/events/a/b", None),
        ("/v1/products", None),
        ("/v1/emoji/", None),
        ("/", None),
    ],
)
def test_paths_match_their_route_template_and_parameters(path, expected) -> None:
    assert match_route(path) == expected


def test_every_template_a_path_can_match_has_a_method() -> None:
    for path in ("/v1/events/x", "/v1/events/x:batch", "/v1/products/x", "/metrics"):
        template, _ = match_route(path)
        assert template in ROUTES
