"""Manifest fuzzing (hypothesis): whatever a manifest directory holds, `load_directory` returns
errors, never raises, and a controller fed the result stays alive and keeps what it must.

Generated inputs: arbitrary text and bytes; YAML assembled from YAML's own tokens (anchors,
aliases, merge keys, tags, flow and block collections, document markers, odd scalars); edits
of the example manifests; and real documents of every kind with one field replaced by an
arbitrary value (mappings, lists, long strings, huge numbers, dates, bytes, alias bombs, deep
nesting), alongside FIFOs and symbolic links. Every problem must come back as a FieldError of
a file the directory holds (or of a directory), quoting no value beyond 60 characters.
"""

from __future__ import annotations

import copy
import datetime
import os
import resource
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from controller.catalog import CATALOG, KINDS, load_directory
from controller.core.controller import Controller
from controller.core.settings import Settings
from controller.dataplane.fake import FakeDataPlane
from controller.manifests.base import FieldError
from controller.manifests.loader import Limits, LoadResult
from controller.runtime.fake import FakeRuntime
from controller.store import Store
from controller.telemetry import Metrics
from tests.support.builders import FakeClock

EXAMPLES = Path(__file__).resolve().parents[2] / "manifests"
EXTRA_SEEDS = """\
apiVersion: skiff/v1
kind: Host
metadata: {name: local}
spec: {url: "unix:///var/run/docker.sock"}
---
apiVersion: skiff/v1
kind: Instance
metadata: {name: db}
spec:
  launchTemplate: {launchTemplateName: app}
---
apiVersion: skiff/v1
kind: Alarm
metadata: {name: backlog-high}
spec:
  metric: {prometheusQuery: "sum(queue_depth)", prometheusUrl: "http://127.0.0.1:9090"}
  statistic: Maximum
  period: 60
  evaluationPeriods: 3
  datapointsToAlarm: 2
  threshold: 100
  comparisonOperator: GreaterThanThreshold
"""
SEEDS: list[dict[str, Any]] = [
    doc
    for text in [*(p.read_text() for p in sorted(EXAMPLES.glob("*.yaml"))), EXTRA_SEEDS]
    for doc in yaml.safe_load_all(text)
    if doc
]
SEED_TEXT = "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in SEEDS)
LONG = "Zq" * 400  # a value no message may echo past its first 60 characters
DEEP = "@@deep@@"  # replaced, after dumping, by lists nested deeper than the cap
FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


MEMORY_CAP = 8 * 1024**3  # bytes of address space: an input that explodes fails, not the machine


@pytest.fixture(autouse=True, scope="module")
def bounded_memory() -> Iterator[None]:
    """A loader that expands an input without bound would thrash the machine (and its other
    work) long before pytest reports it: cap this module's address space, then restore it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = MEMORY_CAP if hard == resource.RLIM_INFINITY else min(MEMORY_CAP, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def test_the_seeds_cover_every_kind_and_are_valid() -> None:
    assert {d["kind"] for d in SEEDS} == set(KINDS)
    with manifest_dir({"seeds.yaml": SEED_TEXT}) as root:
        assert load_directory(root).errors == []


# --- what every load must look like ---------------------------------------------------------------


def assert_reported(result: LoadResult, root: str, files: set[str]) -> None:
    """Every problem is a FieldError of a file or directory of this root, bounded and quoted."""
    for err in result.errors:
        assert isinstance(err, FieldError)
        if err.message.startswith(("cannot validate:", "cannot check references:")):
            event("a validator raised: reported as an error of its document")
        assert err.file in files, err  # the root and its directories are readable here
        assert err.document >= 0 and err.message, err
        assert all(isinstance(p, str | int) for p in err.path), err
        text = str(err)
        assert LONG[:62] not in text, text[:300]
        assert len(err.message) <= 1100 and "Traceback" not in text, text[:300]
    for res in result.resources.values():
        assert res.source in files and res.kind in KINDS
    assert result.ok == (not result.errors)


def check_load(files: dict[str, str | bytes], limits: Limits | None = None) -> LoadResult:
    with manifest_dir(files) as root:
        result = load_directory(root, limits=limits or Limits())
        assert_reported(result, root, set(files))
    return result


@contextmanager
def manifest_dir(files: dict[str, str | bytes]) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="skiff-fuzz-") as root:
        for rel, content in files.items():
            path = Path(root, rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                path.write_text(content, encoding="utf-8", errors="surrogatepass")
            else:
                path.write_bytes(content)
        yield root


# --- text -----------------------------------------------------------------------------------------

TOKENS = [
    *["apiVersion", "kind", "metadata", "spec", "name", "skiff/v1", "Service", "TaskDefinition"],
    *["containerDefinitions", "image", "cpu", "memory", "desiredCount", "taskDefinition"],
    *[":", ": ", "- ", "\n", "\n  ", "\n    ", "\t", " ", "[", "]", "{", "}", ",", "#"],
    *["&a ", "&b ", "*a", "*b", "*zz", "<<: *a", "<<: ", "? ", "---\n", "...\n", "%YAML 1.1\n"],
    *["!!binary ", "!!str ", "!!int ", "!!float ", "!!map ", "!!seq ", "!!set ", "!!omap "],
    *["!!timestamp ", "!!python/object:os.system ", "!local ", "'", '"', "|\n", ">-\n", "\\"],
    *["null", "~", "true", "no", "0x1F", "0o17", "0b101", "1e400", ".nan", "-.inf", "1_000"],
    *["2024-02-30", "2024-01-01T00:00:00Z", "12:30:00", "9" * 5000, "0x" + "f" * 5000],
    *["\ufeff", "\x00", "\x85", "\u2028", "é", "\U0001f4a5", LONG],
]


@FUZZ
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400))
def test_any_text_is_reported_not_raised(text: str) -> None:
    check_load({"x.yaml": text, "ok.yaml": SEED_TEXT})


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_are_reported_not_raised(data: bytes) -> None:
    check_load({"x.yml": data})


@FUZZ
@given(st.lists(st.sampled_from(TOKENS) | st.text(max_size=4), max_size=80).map("".join))
def test_yaml_token_soup_is_reported_not_raised(text: str) -> None:
    check_load({"soup.yaml": text})


@FUZZ
@given(
    st.lists(
        st.tuples(st.integers(0, len(SEED_TEXT)), st.integers(0, 20), st.sampled_from(TOKENS)),
        min_size=1,
        max_size=6,
    )
)
def test_edited_example_manifests_are_reported_not_raised(
    edits: list[tuple[int, int, str]],
) -> None:
    text = SEED_TEXT
    for at, cut, token in edits:
        text = text[:at] + token + text[at + cut :]
    check_load({"sub/edited.yaml": text})


# --- structures -----------------------------------------------------------------------------------


def bomb(levels: int, fan_out: int) -> list[Any]:
    """A list that safe_dump writes with anchors and aliases: fan_out**levels leaves."""
    value: list[Any] = ["lol"] * fan_out
    for _ in range(levels):
        value = [value] * fan_out
    return value


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-(10**300), 10**300)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.just(LONG)
    | st.just(DEEP)
    | st.sampled_from(["0.5 vCPU", "2 GB", "web", "web:0", "attribute:zone == a", "* * * * *"])
    | st.dates()
    | st.datetimes(timezones=st.none() | st.just(datetime.UTC))
    | st.binary(max_size=8)
)
KEYS = st.text(max_size=12) | st.integers() | st.none() | st.booleans() | st.just(LONG)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
) | st.builds(bomb, st.integers(1, 9), st.integers(2, 9))


def paths(
    value: Any, prefix: tuple[Any, ...] = (), seen: set[int] | None = None
) -> Iterator[tuple[Any, ...]]:
    """Every place in a document, each shared list or mapping (a bomb's) entered once."""
    seen = set() if seen is None else seen
    yield prefix
    if isinstance(value, dict | list) and id(value) not in seen and len(prefix) < 12:
        seen.add(id(value))
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for k, v in items:
            yield from paths(v, (*prefix, k), seen)


def replaced(doc: Any, path: tuple[Any, ...], value: Any, how: str) -> Any:
    if not path:
        return value
    doc = copy.deepcopy(doc)
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    if how == "delete":
        del parent[path[-1]]
    elif how == "add" and isinstance(parent, dict):
        parent[LONG if isinstance(value, list) else f"extra{len(parent)}"] = value
    else:
        parent[path[-1]] = value
    return doc


@st.composite
def fuzzed_documents(draw: st.DrawFn) -> tuple[list[Any], str]:
    """Seed documents, one or two of them with a field replaced, dumped to one YAML text."""
    docs: list[Any] = draw(st.lists(st.sampled_from(SEEDS), min_size=1, max_size=4))
    for _ in range(draw(st.integers(1, 2))):
        i = draw(st.integers(0, len(docs) - 1))
        path = draw(st.sampled_from(list(paths(docs[i]))))
        how = draw(st.sampled_from(["replace", "replace", "delete", "add"])) if path else "replace"
        docs[i] = replaced(docs[i], path, draw(VALUES), how)
    text = "---\n".join(yaml.safe_dump(d, sort_keys=False, allow_unicode=True) for d in docs)
    depth = draw(st.integers(60, 3000))
    text = text.replace(f"'{DEEP}'", "[" * depth + "]" * depth)
    return docs, text


@FUZZ
@given(fuzzed_documents())
def test_any_value_in_any_field_of_any_kind_is_a_field_error(
    fuzzed: tuple[list[Any], str],
) -> None:
    docs, text = fuzzed
    result = check_load({"teams/fuzzed.yaml": text})

    for err in result.errors:  # a document that parsed names its problems by field
        assert err.file == "teams/fuzzed.yaml"
        assert 1 <= err.document <= len(docs)  # counted from 1, as editors do
        assert err.line is not None and err.line >= 1, err


@settings(max_examples=200, deadline=None)
@given(
    fuzzed_documents(),
    st.sets(st.sampled_from(["fifo", "link-out", "link-in", "dangling", "dir.yaml"]), max_size=5),
    st.integers(100, 4000),
)
def test_special_files_and_small_size_limits_are_reported_not_raised(
    fuzzed: tuple[list[Any], str], specials: set[str], max_bytes: int
) -> None:
    with tempfile.TemporaryDirectory() as outside, manifest_dir({"a.yaml": fuzzed[1]}) as root:
        Path(outside, "secret.yaml").write_text(f"{LONG}: [\n")
        make: dict[str, Callable[[], None]] = {
            "fifo": lambda: os.mkfifo(Path(root, "fifo.yaml")),
            "link-out": lambda: Path(root, "out.yaml").symlink_to(Path(outside, "secret.yaml")),
            "link-in": lambda: Path(root, "in.yml").symlink_to(Path(root, "a.yaml")),
            "dangling": lambda: Path(root, "gone.yaml").symlink_to(Path(root, "nothing")),
            "dir.yaml": lambda: Path(root, "dir.yaml").mkdir(),
        }
        for special in specials:
            make[special]()

        result = load_directory(root, limits=Limits(max_bytes=max_bytes))

        names = {"a.yaml", "fifo.yaml", "out.yaml", "in.yml", "gone.yaml"}
        assert_reported(result, root, names)
        assert LONG[:62] not in repr(result.errors)


# --- the controller stays alive and keeps what a bad load cannot see ------------------------------


def fake_controller() -> Controller:
    clock = FakeClock()
    fake = FakeRuntime(clock=clock)
    return Controller(
        Store(":memory:"),
        Metrics(),
        lambda name, spec: fake,
        Settings(parallelism=2, monitoring=False),
        clock=clock,
        monotonic=clock,
        dataplane_factory=FakeDataPlane,
        catalog=CATALOG,
    )


@settings(max_examples=150, deadline=None)
@given(fuzzed_documents(), st.booleans())
def test_a_controller_fed_fuzzed_loads_keeps_running_and_keeps_what_it_must(
    fuzzed: tuple[list[Any], str], example_too: bool
) -> None:
    ctl = fake_controller()
    try:
        with manifest_dir({"a.yaml": SEED_TEXT}) as root:
            good = load_directory(root)
        ctl.apply_manifests(good)
        ctl.run_until_idle()
        before = dict(ctl.desired)

        files = {"a.yaml": fuzzed[1], **({"b.yaml": SEED_TEXT} if example_too else {})}
        bad = check_load(files)
        ctl.apply_manifests(bad)
        ctl.resync()
        ctl.run_until_idle()

        for key, res in before.items():
            if key in bad.claimed or bad.keeps(res.source):
                assert key in ctl.desired, key  # an invalid or unreadable document deletes nothing
        assert ctl.manifest_errors == bad.errors
    finally:
        ctl.stop()
