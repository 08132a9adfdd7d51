"""The JSON Schema's field descriptions, from the docstring written under each spec field.

A field's docstring is the string statement right after its annotated assignment in the model's
class body (as pydantic's `use_attribute_docstrings` reads it); an explicit
`Field(description=...)` wins over it. They are read here when a schema is generated, not when
the models are defined: pydantic's reading at class creation walks the call stack and
tokenizes each class's source, about half a second of every process that imports the models
(the daemon at each start, every `skiff` command), for descriptions that only `skiff schema`
prints. Here each module's source is parsed once, and only by the process that prints a schema.

The hook is the base model's `json_schema_extra`: a model that sets its own must call
`describe_fields` from it. Classes defined inside a function are not found (no spec model is).
"""

from __future__ import annotations

import ast
import inspect
import sys
from functools import cache
from itertools import pairwise
from typing import Any

from pydantic import BaseModel


def _docstrings(body: list[ast.stmt]) -> dict[str, str]:
    """The docstrings of the annotated fields of one class body."""
    docs = {}
    for field, after in pairwise(body):
        if (
            isinstance(field, ast.AnnAssign)
            and isinstance(field.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[field.target.id] = inspect.cleandoc(after.value.value)
    return docs


@cache
def _module_docstrings(module: str) -> dict[str, dict[str, str]]:
    """Every class of a module (by qualified name): its fields' docstrings."""
    found: dict[str, dict[str, str]] = {}

    def walk(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                found[prefix + node.name] = _docstrings(node.body)
                walk(node.body, f"{prefix}{node.name}.")

    try:
        walk(ast.parse(inspect.getsource(sys.modules[module])).body, "")
    except (KeyError, OSError, TypeError):  # no source to read (a frozen or built-in module)
        pass
    return found


def describe_fields(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """pydantic's `json_schema_extra` hook, called with each model's schema as it is made: each
    property whose field has no description gets the docstring under the field, in the class
    that annotates it last (as pydantic: a subclass that annotates a field again without a
    docstring gives it none)."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return
    for name, field in model.model_fields.items():
        key = field.alias if field.alias in properties else name
        owner = next((c for c in model.__mro__ if name in vars(c).get("__annotations__", {})), None)
        if (
            owner is None
            or field.description is not None
            or not isinstance(properties.get(key), dict)
        ):
            continue
        doc = _module_docstrings(owner.__module__).get(owner.__qualname__, {}).get(name)
        if doc:
            properties[key]["description"] = doc
