"""Placement constraints and strategies in manifests (issue 3): field paths, attributes, distinct
instance.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.documents import host_doc, service_doc, td_doc, write
from tests.unit.manifests_support import errors_at, load

# --- placement constraints and strategies (issue 3) --------------------------------------------


def test_placement_fields_are_validated_with_their_paths(tmp_path: Path) -> None:
    write(
        tmp_path,
        "svc.yaml",
        td_doc(),
        service_doc(
            placementConstraints=[
                {"type": "memberOf", "expression": "zone = a"},
                {"type": "distinctInstance", "expression": "x"},
            ],
            placementStrategy=[{"type": "binpack", "field": "disk"}, {"type": "spread"}],
        ),
    )
    errors = errors_at(load(tmp_path))
    assert set(errors) == {
        "svc.yaml#2:spec.placementConstraints.0",
        "svc.yaml#2:spec.placementConstraints.1",
        "svc.yaml#2:spec.placementStrategy.0",
        "svc.yaml#2:spec.placementStrategy.1",
    }
    assert "cannot read expression 'zone = a'" in errors["svc.yaml#2:spec.placementConstraints.0"]


def test_an_attribute_on_no_host_is_refused_but_a_constraint_no_host_meets_today_is_not(
    tmp_path: Path,
) -> None:
    """A typo in an attribute is an error; a pool too small for a constraint is not: as in
    ECS, what fits is placed and the rest waits for a host."""
    write(
        tmp_path,
        "pool.yaml",
        host_doc("a", zone="zone-a", attributes={"disk": "ssd"}),
        host_doc("b", zone="zone-b", url="tcp://b:2376"),
    )
    write(
        tmp_path,
        "svc.yaml",
        td_doc(),
        service_doc(
            desiredCount=3,
            placementConstraints=[
                {"type": "memberOf", "expression": "attribute:rack == r1"},
                {"type": "memberOf", "expression": "attribute:zone == zone-c"},
                {"type": "distinctInstance"},
            ],
        ),
    )
    errors = errors_at(load(tmp_path))
    assert list(errors) == ["svc.yaml#2:spec.placementConstraints.0"]
    assert errors["svc.yaml#2:spec.placementConstraints.0"].startswith(
        "attribute 'rack' is on no Host"
    )


def test_distinct_instance_with_more_tasks_than_hosts_is_accepted(tmp_path: Path) -> None:
    write(tmp_path, "pool.yaml", host_doc("a"), host_doc("b", url="tcp://b:2376"))
    write(
        tmp_path,
        "svc.yaml",
        td_doc(),
        service_doc(desiredCount=3, placementConstraints=[{"type": "distinctInstance"}]),
    )
    assert errors_at(load(tmp_path)) == {}
