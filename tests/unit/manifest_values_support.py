"""The helper the manifest value tests share: the errors the loader reports for one file of
documents, keyed by document and field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controller.catalog import load_directory
from controller.manifests.loader import LoadResult
from tests.support.documents import write


def errors(tmp_path: Path, *docs: dict[str, Any] | str) -> dict[str, str]:
    """{'document:field': message} of every error in one file of these documents."""
    write(tmp_path, "m.yaml", *docs)
    result: LoadResult = load_directory(str(tmp_path))
    return {f"{e.document}:{e.field}": e.message for e in result.errors}
