"""Field descriptions in the JSON Schema come from the docstring under each field, read when a
schema is made, with pydantic's rules: an explicit description wins, and a subclass that
annotates a field again without a docstring gives it none."""

from __future__ import annotations

from pydantic import Field

from controller.manifests.base import SpecModel


class Parent(SpecModel):
    count: int = 1
    """How many copies run."""
    image: str = "busybox"
    """The image the container runs."""
    port: int = Field(80, description="Given explicitly.")
    """A docstring the explicit description wins over."""


class Child(Parent):
    image: str = "nginx"  # annotated again, no docstring: no description, as pydantic does


def properties(model: type[SpecModel]) -> dict[str, dict[str, object]]:
    props: dict[str, dict[str, object]] = model.model_json_schema(by_alias=True)["properties"]
    return props


def test_a_fields_docstring_is_its_description() -> None:
    assert properties(Parent)["count"]["description"] == "How many copies run."
    assert properties(Parent)["image"]["description"] == "The image the container runs."


def test_an_explicit_description_wins_over_the_docstring() -> None:
    assert properties(Parent)["port"]["description"] == "Given explicitly."


def test_a_subclass_keeps_inherited_docstrings_and_not_those_of_fields_it_redefines() -> None:
    child = properties(Child)
    assert child["count"]["description"] == "How many copies run."
    assert "description" not in child["image"]
