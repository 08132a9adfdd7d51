"""Helpers the manifest reading tests share: loading a directory, its errors by path, and a
load that must finish in time.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from controller.catalog import load_directory
from controller.manifests.loader import LoadResult


def load(root: Path, **options: Any) -> LoadResult:
    return load_directory(str(root), **options)


def errors_of(result: LoadResult) -> dict[str, str]:
    return {f"{e.file}#{e.document}:{e.field}": e.message for e in result.errors}


def loads_within(seconds: float, root: Path) -> LoadResult:
    """load_directory in a thread, so that a hang fails the test instead of blocking it."""
    out: list[LoadResult] = []
    worker = threading.Thread(target=lambda: out.append(load(root)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert out, f"load_directory did not return within {seconds} s"
    return out[0]
