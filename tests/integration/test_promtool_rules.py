"""deploy/prometheus as Prometheus reads it: promtool accepts the configuration and the rule
files, and the rules' unit tests (deploy/prometheus/tests/*.yml) pass; every alert has a
`for`, a severity and a summary naming its resource, and a unit test. promtool comes with
Debian's prometheus package (scripts/ensure-docker.sh installs it): without it this fails.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: run scripts/ensure-docker.sh (Debian's prometheus)"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120)


def alerts() -> list[dict[str, Any]]:
    doc = yaml.safe_load((DEPLOY / "rules" / "alerts.yml").read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_accepts_the_configuration_and_the_rules() -> None:
    out = promtool("check", "config", str(DEPLOY / "prometheus.yml"))
    assert out.returncode == 0, out.stdout + out.stderr
    rules = sorted(str(p) for p in (DEPLOY / "rules").glob("*.yml"))
    assert len(rules) >= 2
    out = promtool("check", "rules", *rules)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_rules_unit_tests_pass() -> None:
    tests = sorted(str(p) for p in (DEPLOY / "tests").glob("*.yml"))
    assert tests
    out = promtool("test", "rules", *tests)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_waits_has_a_severity_names_its_resource_and_is_tested() -> None:
    tested = {
        case["alertname"]
        for path in (DEPLOY / "tests").glob("*.yml")
        for test in yaml.safe_load(path.read_text()).get("tests", [])
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    found = alerts()
    assert len(found) >= 9
    for rule in found:
        name = rule["alert"]
        assert rule.get("for"), f"{name} has no for"
        assert rule.get("labels", {}).get("severity") in ("critical", "warning"), name
        notes = rule.get("annotations", {})
        assert "{{ $labels." in notes.get("summary", ""), f"{name}'s summary names nothing"
        assert notes.get("description"), f"{name} has no description"
        assert name in tested, f"{name} has no promtool test that fires it"


def test_a_broken_alert_fails_its_unit_test(tmp_path: Path) -> None:
    """The unit tests catch a changed expression (they are not vacuous)."""
    rules = tmp_path / "rules"
    shutil.copytree(DEPLOY / "rules", rules)
    shutil.copytree(DEPLOY / "tests", tmp_path / "tests")
    text = (rules / "alerts.yml").read_text()
    broken = text.replace(
        "skiff_service_running_tasks < skiff_service_desired_tasks",
        "skiff_service_running_tasks > skiff_service_desired_tasks",
    )
    assert broken != text
    (rules / "alerts.yml").write_text(broken)
    out = promtool("test", "rules", str(tmp_path / "tests" / "alerts.yml"))
    assert out.returncode != 0
    assert "SkiffServiceBelowDesiredCount" in out.stdout + out.stderr
