"""The `--allow` flags and what each grants: the table `skiff run --help` prints.

Apart from the policy (policy.py) so that building the command line's parser, which every
`skiff` command does, needs no manifest model: the policy imports them all.
"""

from __future__ import annotations

# What each `--allow` flag allows: the policy's whole table.
FLAGS: dict[str, str] = {
    "privileged": "privileged containers (`privileged: true`): every capability and device of "
    "the host",
    "host-network": "`networkMode: host`: the host's network stack",
    "host-pid": "`pidMode: host`: the host's processes",
    "host-ipc": "`ipcMode: host`: the host's IPC namespace (shared memory, semaphores)",
    "host-path": "host paths: `volumes[].host.sourcePath`, and local-driver "
    "`dockerVolumeConfiguration.driverOpts` that bind or mount one (`device`, `o: bind`); "
    "`host-path:/PREFIX` allows the paths under /PREFIX only",
    "devices": "host devices: `linuxParameters.devices`",
    "capabilities": "`linuxParameters.capabilities.add` beyond Docker's default set, `ALL` "
    "included; `capability:NAME` allows that one",
}

HOST_PATH_PREFIX = "host-path:"
CAPABILITY_PREFIX = "capability:"
