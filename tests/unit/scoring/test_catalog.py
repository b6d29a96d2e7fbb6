"""Catalog (issue 3 item 4, spec 8): the default catalog, semantic validation with JSON
paths, and ``load_catalog`` errors (one line, a UsageError)."""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from schemas import load_schema
from scoring.catalog import CatalogError, catalog_from_dict
from streams.codec.catalog import load_catalog
from streams.errors import UsageError

SPEC_8 = [
    ("sales_cloud.license_activation", "product_adoption", "sales_cloud", "ratio", "low"),
    ("service_cloud.license_activation", "product_adoption", "service_cloud", "ratio", "low"),
    ("field_service.license_activation", "product_adoption", "field_service", "ratio", "low"),
    ("data_cloud.credit_consumption", "product_adoption", "data_cloud", "ratio", "medium"),
    ("field_service.work_order_growth", "product_adoption", "field_service", "growth", "medium"),
    ("service_cloud.case_growth", "product_adoption", "service_cloud", "growth", "medium"),
    ("service_cloud.swarming", "product_adoption", "service_cloud", "indicator", "low"),
    ("commerce_cloud.order_growth", "product_adoption", "commerce_cloud", "growth", "high"),
    ("success.prom_threshold_reviews", "customer_expertise", "success", "indicator", "low"),
    ("learning.trailhead", "customer_expertise", "learning", "indicator", "low"),
    ("success.expert_coaching", "customer_expertise", "success", "recency", "medium"),
    ("platform.apex_error_free_days", "technical_health", "efficiency", "error_free_days", "high"),
    ("platform.page_performance", "technical_health", "efficiency", "threshold_average", "high"),
    ("platform.prom_alerts", "technical_health", "efficiency", "deduction", "medium"),
    ("platform.tech_debt_review", "technical_health", "customization", "recency", "medium"),
    ("platform.event_monitoring", "technical_health", "observability", "config", "low"),
    (
        "platform.security_health_check",
        "technical_health",
        "operational_excellence",
        "config",
        "medium",
    ),
]


def _default_dict() -> dict[str, Any]:
    text = resources.files("streams").joinpath("default_catalog.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def test_default_catalog_is_spec_section_8() -> None:
    catalog = load_catalog(None)
    assert [(s.id, s.category, s.group, s.kind, s.effort) for s in catalog.signals] == SPEC_8
    assert all(s.action and s.weight == 1 and s.policy == "exclude" for s in catalog.signals)
    assert dict(catalog.category_weights) == {
        "product_adoption": 5,
        "customer_expertise": 2,
        "technical_health": 3,
    }
    jsonschema.Draft202012Validator(load_schema("catalog.schema.json")).validate(_default_dict())


def test_catalog_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema("catalog.schema.json"))


def _mutate(path: list[Any], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(_default_dict())
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["signals", 3, "kind"], "median", "signals[3].kind: unknown kind median"),
        (["signals", 12, "params", "good"], 5000, "signals[12].params.good: must be < bad"),
        (["signals", 12, "params", "good"], 6000, "signals[12].params.good: must be < bad"),
        (
            ["signals", 9, "params", "tiers"],
            [[0, 0], [5, 50], [1, 25]],
            "signals[9].params.tiers[2][0]: tiers must be sorted ascending",
        ),
        (
            ["signals", 10, "params", "tiers"],
            [[90, 100], [90, 50]],
            "signals[10].params.tiers[1][0]: tiers must be sorted ascending",
        ),
        (
            ["signals", 1, "id"],
            "sales_cloud.license_activation",
            "signals[1].id: duplicate signal id",
        ),
        (["signals", 0, "category"], "happiness", "signals[0].category: must be one of"),
        (["signals", 0, "weight"], 0, "signals[0].weight: must be > 0"),
        (["signals", 0, "policy"], "ignore", "signals[0].policy: must be exclude or zero"),
        (["signals", 0, "effort"], "huge", "signals[0].effort: must be low, medium or high"),
        (["signals", 0, "action"], "", "signals[0].action: must be a non-empty string"),
        (
            ["signals", 4, "events", "where"],
            {"product": "sales_cloud"},
            "signals[4].events.where.product: must equal the signal's group",
        ),
        (["signals", 4, "params", "variant"], "qoq", "signals[4].params.variant"),
        (["signals", 6, "params", "mode"], "maybe", "signals[6].params.mode"),
        (["signals", 9, "params", "tiers", 1], [1, 150], "signals[9].params.tiers[1][1]"),
        (
            ["category_weights", "technical_health"],
            -3,
            "category_weights.technical_health: must be > 0",
        ),
        (["signals"], [], "signals: must be a non-empty list"),
    ],
)
def test_semantic_errors_name_the_field(path: list[Any], value: Any, message: str) -> None:
    with pytest.raises(CatalogError) as info:
        catalog_from_dict(_mutate(path, value))
    assert str(info.value).startswith(message)


def test_unknown_category_weight_is_rejected() -> None:
    data = _default_dict()
    data["category_weights"]["fun"] = 1
    with pytest.raises(CatalogError, match=r"^category_weights.fun: unknown category"):
        catalog_from_dict(data)


def test_custom_weights_and_policy_are_read() -> None:
    data = _mutate(["signals", 0, "weight"], 2.5)
    data["signals"][1]["policy"] = "zero"
    catalog = catalog_from_dict(data)
    assert str(catalog.signals[0].weight) == "5/2"
    assert catalog.signals[1].policy == "zero"


def test_load_catalog_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"catalog .*nope.json: cannot read"):
        load_catalog(str(tmp_path / "nope.json"))


def test_load_catalog_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text("{not json")
    with pytest.raises(UsageError, match="not valid JSON"):
        load_catalog(str(path))


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        (["signals", 2, "kind"], 7, "$.signals[2].kind"),
        (["signals", 2, "effort"], "huge", "$.signals[2].effort"),
        (["name"], "", "$.name"),
        (["signals", 12, "params", "good"], "fast", "$.signals[12].params.good"),
    ],
)
def test_load_catalog_schema_errors_name_the_json_path(
    tmp_path: Path, path: list[Any], value: Any, fragment: str
) -> None:
    file = tmp_path / "c.json"
    file.write_text(json.dumps(_mutate(path, value)))
    with pytest.raises(UsageError) as info:
        load_catalog(str(file))
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_load_catalog_semantic_error_is_a_usage_error(tmp_path: Path) -> None:
    file = tmp_path / "c.json"
    file.write_text(json.dumps(_mutate(["signals", 12, "params", "good"], 5000)))
    with pytest.raises(UsageError, match=r"signals\[12\].params.good: must be < bad"):
        load_catalog(str(file))


def test_load_catalog_reads_a_user_catalog(tmp_path: Path) -> None:
    data = _default_dict()
    data["name"], data["version"] = "acme", "7"
    data["signals"] = data["signals"][:2]
    file = tmp_path / "c.json"
    file.write_text(json.dumps(data))
    catalog = load_catalog(str(file))
    assert (catalog.name, catalog.version, len(catalog.signals)) == ("acme", "7", 2)
