"""Instant queries against a Prometheus server's HTTP API, for alarms on metrics Skiff does not
collect itself (standard library only).

`query` returns one number or raises `MetricUnavailable` saying why there is none, so an alarm
can go to INSUFFICIENT_DATA with a reason a person can act on. It never retries or caches.
"""

from __future__ import annotations

import http.client
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class MetricUnavailable(Exception):
    """The query gave no single finite number; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def query(url: str, promql: str, timeout: float = 5.0) -> float:
    """The value of `promql` now, from the Prometheus server at `url` (e.g.
    http://127.0.0.1:9090). The result must be a scalar or an instant vector of exactly one
    sample: aggregate (sum, avg, max ...) to one series in the query."""
    base = url.rstrip("/")
    parts = urllib.parse.urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise MetricUnavailable(f"invalid Prometheus URL {url!r}: expected http(s)://HOST:PORT")
    address = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    try:
        with urllib.request.urlopen(address, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise MetricUnavailable(_http_error(base, exc)) from exc
    except urllib.error.URLError as exc:
        raise MetricUnavailable(f"Prometheus at {base} is unreachable: {exc.reason}") from exc
    except (ValueError, http.client.InvalidURL) as exc:  # e.g. a port that is not a number
        raise MetricUnavailable(f"invalid Prometheus URL {url!r}: {exc}") from exc
    except (OSError, http.client.HTTPException) as exc:  # a timeout or reset while reading
        raise MetricUnavailable(f"Prometheus at {base} is unreachable: {exc}") from exc
    return _value(base, _json(base, body))


def _http_error(base: str, exc: urllib.error.HTTPError) -> str:
    """Prometheus answers a bad query with 400/422 and a JSON error: show its text."""
    try:
        data = json.loads(exc.read())
    except (ValueError, OSError):
        data = None
    if isinstance(data, dict) and data.get("status") == "error":
        return _error_text(base, data)
    return f"Prometheus at {base} answered HTTP {exc.code} {exc.reason}"


def _json(base: str, body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise MetricUnavailable(f"Prometheus at {base} did not answer with JSON") from exc
    if not isinstance(data, dict):
        raise MetricUnavailable(f"Prometheus at {base} answered with an unexpected document")
    if data.get("status") != "success":
        raise MetricUnavailable(_error_text(base, data))
    return data


def _error_text(base: str, data: dict[str, Any]) -> str:
    kind = data.get("errorType") or "error"
    return f"Prometheus at {base} refused the query ({kind}): {data.get('error') or 'no reason'}"


def _value(base: str, data: dict[str, Any]) -> float:
    result = data.get("data") or {}
    kind = result.get("resultType")
    found: Any = result.get("result")
    if kind == "scalar":
        raw = found
    elif kind == "vector":
        if not found:
            raise MetricUnavailable("the query returned no data")
        if len(found) > 1:
            raise MetricUnavailable(
                f"the query returned {len(found)} series, not one: aggregate them "
                "(e.g. with sum, avg or max) into one"
            )
        raw = found[0].get("value") if isinstance(found[0], dict) else None
    else:
        raise MetricUnavailable(
            f"the query returned a {kind or 'missing'} result, not a scalar or an instant vector"
        )
    try:
        value = float(raw[1])
    except (TypeError, ValueError, IndexError) as exc:
        raise MetricUnavailable(f"Prometheus at {base} answered with a malformed sample") from exc
    if not math.isfinite(value):
        raise MetricUnavailable(f"the query returned {raw[1]}, not a finite number")
    return value
