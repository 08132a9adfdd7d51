"""A status detail built when the status is read (WhenRead): a service's thousand-task list is
built once, at the first read after a look, and a detail that fails to build leaves the rest of
the status readable."""

from __future__ import annotations

from controller.core.status import ResourceStatus, WhenRead


def test_a_detail_is_built_at_the_first_read_and_kept() -> None:
    built = []

    def tasks() -> list[str]:
        built.append(1)
        return ["t1", "t2"]

    st = ResourceStatus("Service", "web", "ACTIVE", details={"tasks": WhenRead(tasks)})
    assert built == []  # a look no one reads builds nothing
    assert st.to_json()["tasks"] == ["t1", "t2"]
    assert st.to_json()["tasks"] == ["t1", "t2"]
    assert built == [1]


def test_a_detail_that_fails_to_build_leaves_the_rest_of_the_status_readable() -> None:
    st = ResourceStatus(
        "Service", "web", "ACTIVE", details={"tasks": WhenRead(lambda: 1 / 0), "desiredCount": 3}
    )
    doc = st.to_json()
    assert doc["tasks"] is None
    assert doc["desiredCount"] == 3 and doc["status"] == "ACTIVE"
