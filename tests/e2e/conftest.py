"""The CLI end to end: the daemon fixture of the integration tests is shared here."""

from tests.integration.conftest import skiff

__all__ = ["skiff"]
