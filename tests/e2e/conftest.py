"""The CLI end to end: the daemon fixture of the integration tests is shared here.

Ctrl-C reaches the commands these tests start: a shell starts a background job (`.ci/run &`,
nohup) with SIGINT ignored, every process under it inherits that, and Python then installs no
KeyboardInterrupt handler, so `--watch` would never see the test's Ctrl-C. Restoring Python's
handler here gives the commands the default disposition a terminal gives them (a handler is
reset to the default across exec; an ignored signal is not)."""

import signal

from tests.integration.conftest import skiff

if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

__all__ = ["skiff"]
