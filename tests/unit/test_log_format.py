"""`skiff run` logs one JSON object per line when its stderr is not a terminal (a journal, a
file, a log shipper) and readable lines when it is (issue 15): `--log-format auto`."""

import json
import os
import pty
import subprocess
import sys

LOG_ONE_LINE = (
    "from controller.logging import configure; import structlog; configure('auto', 'info'); "
    "structlog.get_logger().info('task.started', service='web')"
)


def test_logs_are_json_lines_when_stderr_is_a_pipe() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOG_ONE_LINE], capture_output=True, text=True, check=True
    )
    event = json.loads(done.stderr.strip())
    assert event["event"] == "task.started" and event["service"] == "web"
    assert event["level"] == "info" and event["timestamp"].endswith("Z")


def test_logs_are_readable_lines_on_a_terminal() -> None:
    leader, follower = pty.openpty()
    try:
        subprocess.run([sys.executable, "-c", LOG_ONE_LINE], stderr=follower, check=True)
        os.close(follower)
        printed = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            printed += chunk
    finally:
        os.close(leader)
    text = printed.decode()
    assert "task.started" in text and "service" in text and "web" in text
    assert not text.lstrip().startswith("{")  # not JSON
