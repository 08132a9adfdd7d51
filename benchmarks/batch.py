"""Batch benchmark: jobs that exit at once, through a Skiff job queue, against the same
containers run straight through the Docker API with the same concurrency, in the same run.

The compute environment's maxvCpus over each job's vcpus is the concurrency (8 by default).
Raw Docker runs that many workers, each creating a container with the job's CPU and memory
limits, starting it, waiting for its exit, reading its log and removing it. Skiff's time runs
from the first submit to the last SUCCEEDED on the daemon's event stream (so it includes the
submits, the scheduling, keeping each log and removing each container).

Prints the times and their ratio; nothing is asserted. The issue 23 size is --jobs 2000.

    python benchmarks/batch.py [--jobs 200] [--concurrency 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
from common import IMAGE, Daemon, remove_all

from tests.support.documents import (
    compute_environment_doc,
    dump,
    job_definition_doc,
    job_queue_doc,
)

VCPUS, MEMORY_MIB = 0.125, 16
COMMAND = ["sh", "-c", "echo done"]


def batch_manifest(concurrency: int) -> str:
    """Environment and queue `bench` (room for `concurrency` jobs) and definition `quick`."""
    properties = {"image": IMAGE, "command": COMMAND, "vcpus": VCPUS, "memory": MEMORY_MIB}
    return dump(
        compute_environment_doc("bench", maxvCpus=math.ceil(concurrency * VCPUS)),  # an integer
        job_queue_doc("bench", "bench"),
        job_definition_doc("quick", containerProperties=properties),
    )


def raw_round(client: docker.DockerClient, n: int, concurrency: int, tag: str) -> float:
    """n containers, `concurrency` at a time: create, start, wait, read the log, remove."""
    api = client.api

    def one(i: int) -> None:
        c = api.create_container(
            IMAGE,
            COMMAND,
            name=f"bench-raw-{tag}-{i}",
            labels={"skiff-bench": tag},
            host_config=api.create_host_config(
                nano_cpus=int(VCPUS * 1e9), mem_limit=f"{MEMORY_MIB}m"
            ),
        )
        api.start(c["Id"])
        api.wait(c["Id"], timeout=60)
        api.logs(c["Id"])
        api.remove_container(c["Id"])

    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(n)))
    return time.monotonic() - started


class Succeeded:
    """Counts SUCCEEDED job state changes on the daemon's event stream as they arrive."""

    def __init__(self, daemon: Daemon) -> None:
        self._resp = urllib.request.urlopen(daemon.request("/v1/events?kind=Job"), timeout=120)
        self._cond = threading.Condition()
        self.count = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for raw in self._resp:
                line = raw.decode()
                if line.startswith("data:") and json.loads(line[5:])["detail"]["status"] == (
                    "SUCCEEDED"
                ):
                    with self._cond:
                        self.count += 1
                        self._cond.notify_all()
        except (OSError, ValueError):  # closed
            pass

    def wait(self, n: int, timeout: float) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.count >= n, timeout):
                raise SystemExit(f"only {self.count} of {n} jobs succeeded in {timeout:g} s")

    def close(self) -> None:
        self._resp.close()


def submit(daemon: Daemon) -> None:
    req = daemon.request("/v1/batch/jobs", {"jobQueue": "bench", "jobDefinition": "quick"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        resp.read()


def skiff_round(daemon: Daemon, n: int) -> tuple[float, float]:
    """Seconds to submit n jobs, and until all n SUCCEEDED, from the first submit."""
    succeeded = Succeeded(daemon)
    try:
        started = time.monotonic()
        for _ in range(n):
            submit(daemon)
        submitted = time.monotonic() - started
        succeeded.wait(n, timeout=300 + 0.5 * n)  # generous, and linear in n
        return submitted, time.monotonic() - started
    finally:
        succeeded.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8, help="maxvCpus / the job's vcpus")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--parallelism", type=int, default=10, help="the daemon's Docker calls")
    args = ap.parse_args()

    client = docker.from_env()
    cluster = f"bench{uuid.uuid4().hex[:6]}"
    root = Path(tempfile.mkdtemp(prefix="skiff-bench-"))
    daemon = Daemon(root, cluster, args.parallelism)
    raw_times, skiff_times, submit_times = [], [], []
    try:
        daemon.write("svc.yaml", batch_manifest(args.concurrency))
        daemon.wait_ready()
        for r in range(args.rounds):
            raw_times.append(raw_round(client, args.jobs, args.concurrency, f"{cluster}-{r}"))
            submitted, done = skiff_round(daemon, args.jobs)
            submit_times.append(submitted)
            skiff_times.append(done)
    finally:
        daemon.stop()
        remove_all(client, {"label": [f"skiff.cluster={cluster}"]})
        remove_all(client, {"name": [f"bench-raw-{cluster}-"]})  # only this run's raw rounds

    raw, skiff = statistics.median(raw_times), statistics.median(skiff_times)
    print(f"{args.jobs} jobs that exit at once, {args.concurrency} at a time "
          f"(maxvCpus {args.concurrency * VCPUS:g}, {VCPUS:g} vCPU each)")  # fmt: skip
    print(f"  raw Docker API          {raw:7.2f} s   rounds: {_list(raw_times)}")
    print(f"  Skiff, all SUCCEEDED    {skiff:7.2f} s   rounds: {_list(skiff_times)}")
    print(f"    of which submitting   {statistics.median(submit_times):7.2f} s")
    print(f"  ratio Skiff/raw         {skiff / raw:7.2f}")
    print(f"  jobs per second: raw {args.jobs / raw:.1f}, Skiff {args.jobs / skiff:.1f}")


def _list(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


if __name__ == "__main__":
    main()
