"""Instant queries against a canned Prometheus HTTP API on 127.0.0.1: one number, or a reason
a person can act on."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator

import pytest

from controller.cloudwatch.sync.prometheus import MetricUnavailable, query

# promql -> (HTTP status, body)
CANNED: dict[str, tuple[int, object]] = {
    "scalar(1)": (200, {"status": "success", "data": {"resultType": "scalar", "result": [1, "1"]}}),
    "up": (
        200,
        {
            "status": "success",
            "data": {
                "resultType": "vector",
                "result": [{"metric": {"job": "skiff"}, "value": [1700000000.1, "42.5"]}],
            },
        },
    ),
    "missing": (200, {"status": "success", "data": {"resultType": "vector", "result": []}}),
    "many": (
        200,
        {
            "status": "success",
            "data": {
                "resultType": "vector",
                "result": [{"metric": {"i": str(i)}, "value": [1, "1"]} for i in range(3)],
            },
        },
    ),
    "nan": (200, {"status": "success", "data": {"resultType": "scalar", "result": [1, "NaN"]}}),
    "inf": (
        200,
        {
            "status": "success",
            "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "+Inf"]}]},
        },
    ),
    "range[5m]": (
        200,
        {"status": "success", "data": {"resultType": "matrix", "result": [{"values": []}]}},
    ),
    "rate(": (
        400,
        {
            "status": "error",
            "errorType": "bad_data",
            "error": 'invalid parameter "query": 1:6: parse error: unclosed left parenthesis',
        },
    ),
    "slow_engine": (
        200,
        {"status": "error", "errorType": "timeout", "error": "query timed out in expression eval"},
    ),
    "broken": (503, "Service Unavailable"),
    "garbage": (200, "<html>not prometheus</html>"),
}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        if parsed.path != "/api/v1/query":
            self.send_error(404)
            return
        promql = urllib.parse.parse_qs(parsed.query)["query"][0]
        status, body = CANNED[promql]
        payload = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def prometheus() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"  # a trailing slash is fine
    finally:
        server.shutdown()
        server.server_close()


def reason(url: str, promql: str, timeout: float = 5.0) -> str:
    with pytest.raises(MetricUnavailable) as caught:
        query(url, promql, timeout)
    return caught.value.reason


def test_a_scalar_and_a_one_sample_vector_give_their_value(prometheus: str) -> None:
    assert query(prometheus, "scalar(1)") == 1.0
    assert query(prometheus, "up") == 42.5


def test_an_empty_vector_is_no_data(prometheus: str) -> None:
    assert reason(prometheus, "missing") == "the query returned no data"


def test_several_series_are_refused_naming_how_many(prometheus: str) -> None:
    assert "3 series" in reason(prometheus, "many")


@pytest.mark.parametrize(("promql", "shown"), [("nan", "NaN"), ("inf", "+Inf")])
def test_non_finite_values_are_refused(prometheus: str, promql: str, shown: str) -> None:
    assert reason(prometheus, promql) == f"the query returned {shown}, not a finite number"


def test_a_range_vector_is_refused(prometheus: str) -> None:
    assert "matrix" in reason(prometheus, "range[5m]")


def test_a_query_error_shows_prometheus_own_text(prometheus: str) -> None:
    text = reason(prometheus, "rate(")
    assert "bad_data" in text and "unclosed left parenthesis" in text
    assert "query timed out in expression eval" in reason(prometheus, "slow_engine")


def test_http_errors_and_non_json_answers(prometheus: str) -> None:
    assert "HTTP 503" in reason(prometheus, "broken")
    assert "JSON" in reason(prometheus, "garbage")


def test_connection_refused_names_the_server() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}"
    text = reason(url, "up")
    assert text.startswith(f"Prometheus at {url} is unreachable:")
    assert "refused" in text.lower()


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as s:  # accepts connections (backlog) but never answers
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        text = reason(url, "up", timeout=0.2)
    assert text.startswith(f"Prometheus at {url} is unreachable:")
    assert "timed out" in text


def test_a_url_that_is_not_http_is_explained() -> None:
    assert "invalid Prometheus URL" in reason("localhost:9090", "up")
    assert "invalid Prometheus URL" in reason("http://127.0.0.1:port", "up")
