"""How a sync ends when it cannot simply succeed; the worker turns each into a queue decision."""


class Retry(Exception):
    """A sync failed in a way worth retrying with backoff."""


class Terminal(Exception):
    """A sync cannot succeed until the manifest changes; recorded, not retried."""


class Waiting(Exception):
    """A sync depends on another key's work; that key queues this one again when done."""


class Stopped(Exception):
    """The daemon is stopping: the pass ends where it is, quietly. Nothing is lost; the next
    daemon looks at every key again when it starts."""


class CommandError(Exception):
    """The request is refused; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
