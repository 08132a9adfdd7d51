"""The `skiff` command: the daemon's runner and every client of its API, in one package."""
