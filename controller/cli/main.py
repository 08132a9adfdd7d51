"""The `skiff` command: run the daemon, validate and plan manifests, print schema and status,
read resources (`get`, `describe`), follow rollouts, and ask the running daemon to scale groups
and stop, start or terminate instances (through api_client, which finds the daemon's address
and API token).

Exit codes: 0 success; 1 invalid or refused (a bad manifest, an unknown kind or name, a
refused command, a failed or timed-out rollout); 2 usage (argparse); 3 the daemon could not be
reached, or what answered at its address is not the Skiff API."""

from __future__ import annotations

import argparse
import math
import os
import sqlite3
import sys
import urllib.parse
from typing import Any

from controller import __version__
from controller.cli import api_client, manifest_commands
from controller.cli import batch as batch_cli
from controller.cli import down as down_cli
from controller.cli import events as events_cli
from controller.cli import get as get_cli
from controller.cli import rollout as rollout_cli
from controller.cli.api_client import ApiError, Client, default_data_dir
from controller.cli.durations import positive_duration
from controller.cli.output import add_output_flag, render
from controller.terminal import printable

DEFAULT_LISTEN = api_client.DEFAULT_LISTEN


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and flag (shell completion is generated from it)."""
    parser = argparse.ArgumentParser(
        prog="skiff", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"skiff {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the reconcile daemon")
    run.add_argument("--manifests", required=True, help="directory of manifests to converge")
    run.add_argument("--data-dir", default=default_data_dir(), help="where the store lives")
    run.add_argument(
        "--cluster", default="default", help="the cluster this daemon owns; others are left alone"
    )
    run.add_argument("--listen", default=DEFAULT_LISTEN, help="address of the HTTP API")
    run.add_argument(
        "--token-file",
        help="file holding the API token (else $SKIFF_TOKEN, else one generated in --data-dir)",
    )
    run.add_argument(
        "--api-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a name the API answers to in the Host header, besides the listen address",
    )
    run.add_argument("--workers", type=int, default=4, help="keys reconciled at once")
    run.add_argument("--parallelism", type=int, default=10, help="Docker calls in flight at once")
    run.add_argument("--resync", type=float, default=30.0, help="seconds between full resyncs")
    run.add_argument(
        "--lb-address",
        default="127.0.0.1",
        type=_address,
        help="address load balancer listeners bind (0.0.0.0 for every interface)",
    )
    run.add_argument(
        "--host-lost-after",
        type=float,
        default=60.0,
        help="seconds an engine may be unreachable before its tasks are replaced elsewhere",
    )
    run.add_argument("--max-launches", type=int, default=100, help="task launches per pass")
    run.add_argument(
        "--healthy-after-seconds",
        type=_seconds,
        default=40.0,
        help="seconds a service's task with no health check (container or load balancer) must "
        "have been RUNNING to count as healthy in a deployment (ECS: 40)",
    )
    run.add_argument(
        "--status-check-interval",
        type=float,
        default=60.0,
        help="seconds between instances' status checks (EC2 runs them every minute)",
    )
    run.add_argument(
        "--batch-min-timeout",
        type=float,
        default=60.0,
        help="the smallest Batch attemptDurationSeconds accepted (AWS: 60)",
    )
    run.add_argument(
        "--batch-job-retention",
        type=positive_duration,
        default=7 * 86400.0,
        metavar="DURATION",
        help="how long a finished Batch job, its logs and events are kept after it ended "
        "(AWS Batch: at least 7 days): seconds, or 7d, 12h, 1w2d (default 7d)",
    )
    run.add_argument(
        "--activity-retention",
        type=positive_duration,
        default=6 * 7 * 86400.0,
        metavar="DURATION",
        help="how long a scaling activity is kept after it ended (AWS: 6 weeks): seconds, or "
        "6w, 42d (default 6w)",
    )
    run.add_argument(
        "--metrics-period",
        type=float,
        default=60.0,
        help="seconds between metric collections (CloudWatch: 60 detailed, 300 basic)",
    )
    run.add_argument(
        "--prometheus-url",
        default=None,
        type=_http_url,
        help="the Prometheus server for prometheusQuery metrics that name none",
    )
    run.add_argument(
        "--pause-image",
        default=None,
        help="image of awsvpc sandboxes (default: the task's first image)",
    )
    run.add_argument(
        "--lb-threads",
        type=int,
        choices=range(1, 65),
        default=None,
        metavar="N",
        help="HAProxy's threads (default: one fewer than this machine's CPUs, at least 1)",
    )
    run.add_argument(
        "--host-port-range",
        type=_port_range,
        default=None,
        metavar="LOW-HIGH",
        help="where dynamic host ports are chosen (default: up to 16384 ports beside the "
        "kernel's net.ipv4.ip_local_port_range, which outgoing connections use)",
    )
    manifest_commands.add_manifest_limit(run)
    run.add_argument("--log-format", choices=["auto", "json", "console"], default="auto")
    run.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error", "critical"]
    )

    manifest_commands.add_allow(run)
    manifest_commands.add_parsers(sub)

    plan = sub.add_parser("plan", help="show what `run` would change, without changing it")
    plan.add_argument("dir", help="the directory of manifests to plan")
    plan.add_argument("--data-dir", default=default_data_dir(), help="where the store lives")
    plan.add_argument("--cluster", default="default", help="the cluster the daemon owns")
    add_output_flag(plan)
    manifest_commands.add_allow(plan)
    manifest_commands.add_manifest_limit(plan)

    status = sub.add_parser("status", help="show resources and tasks from the running daemon")
    api_client.add_arguments(status)
    add_output_flag(status)
    get_cli.add_watch_flag(status)
    _add_read_commands(sub)

    asg = sub.add_parser("asg", help="Auto Scaling groups: scale, complete lifecycle actions")
    asg_sub = asg.add_subparsers(dest="action", required=True)
    desired = asg_sub.add_parser("set-desired", help="set a group's desiredCapacity")
    desired.add_argument("group", help="the AutoScalingGroup's name")
    desired.add_argument("capacity", type=int, help="the new desiredCapacity")
    complete = asg_sub.add_parser(
        "complete-lifecycle-action", help="let an instance waiting on a hook go on"
    )
    complete.add_argument("group", help="the AutoScalingGroup's name")
    complete.add_argument("instance_id", help="the waiting instance (i-...)")
    complete.add_argument("hook", help="the lifecycleHookName")
    complete.add_argument(
        "result", choices=["CONTINUE", "ABANDON"], help="the lifecycleActionResult"
    )
    heartbeat = asg_sub.add_parser(
        "record-heartbeat", help="restart a waiting hook's heartbeat timeout"
    )
    heartbeat.add_argument("group", help="the AutoScalingGroup's name")
    heartbeat.add_argument("instance_id", help="the waiting instance (i-...)")
    heartbeat.add_argument("hook", help="the lifecycleHookName")
    instance = sub.add_parser("instance", help="stop, start, terminate or protect an instance")
    instance.add_argument(
        "action",
        choices=["stop", "start", "reboot", "terminate", "protect", "unprotect"],
        help="what to do to it (protect: from scale-in)",
    )
    instance.add_argument("instance_id", help="the instance (i-...)")
    for p in (desired, complete, heartbeat, instance):
        api_client.add_arguments(p)
    batch_cli.add_parser(sub)
    events_cli.add_parser(sub)
    down_cli.add_parser(sub)
    completion = sub.add_parser("completion", help="print a shell completion script")
    completion.add_argument(
        "shell",
        choices=["bash", "zsh"],
        help="the shell: `source <(skiff completion bash)`, or save it where zsh looks",
    )
    return parser


def _add_read_commands(sub: Any) -> None:
    """get, describe and rollout: reading resources from the running daemon."""
    get = sub.add_parser("get", help="list resources of a kind, as kubectl get does")
    get.add_argument(
        "kind", metavar="KIND", help="a kind, its plural or short name (svc, tg, asg), or KIND/NAME"
    )
    get.add_argument("name", nargs="?", metavar="NAME", help="only this resource")
    add_output_flag(get)
    get_cli.add_watch_flag(get)
    describe = sub.add_parser("describe", help="show one resource in detail, with its events")
    describe.add_argument(
        "kind", metavar="KIND", help="a kind, its plural or short name (svc, tg, asg), or KIND/NAME"
    )
    describe.add_argument("name", nargs="?", metavar="NAME", help="the resource's name")
    add_output_flag(describe)
    rollout_status = rollout_cli.add_parser(sub)
    for p in (get, describe, rollout_status):
        api_client.add_arguments(p)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = {
        "run": _run,
        "validate": manifest_commands.validate,
        "schema": manifest_commands.schema,
        "plan": _plan,
        "status": _status,
        "asg": _asg,
        "instance": _instance,
        "batch": batch_cli.run,
        "events": events_cli.run,
        "down": down_cli.run,
        "get": get_cli.run_get,
        "describe": get_cli.run_describe,
        "rollout": rollout_cli.run,
        "completion": _completion,
    }[args.command]
    try:
        return handler(args)
    except ApiError as exc:  # refused: 1; the daemon not reached: 3
        print(f"skiff: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:  # Ctrl-C outside a --watch (which ends with 0): the shell's 130
        return 130
    except BrokenPipeError:  # `skiff status | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0 or more)")
    return value


def _address(text: str) -> str:
    """An IP address or host name (it is written into HAProxy's configuration)."""
    from controller.addresses import address_problem

    problem = address_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def _http_url(text: str) -> str:
    from controller.addresses import http_url_problem

    problem = http_url_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"the Prometheus url {problem}")
    return text


def _run(args: argparse.Namespace) -> int:
    from controller.api.auth import environment_options
    from controller.core.settings import Settings
    from controller.daemon import Daemon
    from controller.logging import configure

    configure(args.log_format, args.log_level)
    settings = Settings(
        workers=args.workers,
        parallelism=args.parallelism,
        resync_seconds=args.resync,
        max_launches_per_pass=args.max_launches,
        pause_image=args.pause_image,
        cluster=args.cluster,
        host_lost_seconds=args.host_lost_after,
        healthy_after_seconds=args.healthy_after_seconds,
        lb_address=args.lb_address,
        lb_threads=args.lb_threads,
        status_check_seconds=args.status_check_interval,
        metrics_period=args.metrics_period,
        batch_min_timeout=args.batch_min_timeout,
        batch_job_retention=args.batch_job_retention,
        activity_retention=args.activity_retention,
        prometheus_url=args.prometheus_url,
        dataplane_dir=os.path.join(args.data_dir, "haproxy"),
        host_port_range=args.host_port_range,
        policy=manifest_commands.policy(args),
        max_manifest_bytes=args.max_manifest_bytes,
    )
    try:
        api = environment_options(args.token_file, args.api_host, os.environ)
        daemon = Daemon(
            os.path.abspath(args.manifests), args.data_dir, args.listen, settings, api=api
        )
    except (OSError, sqlite3.Error) as exc:
        print(f"skiff: cannot open the data directory {args.data_dir}: {exc}", file=sys.stderr)
        return 2
    return daemon.run()


def _port_range(text: str) -> tuple[int, int]:
    from controller.core.host_ports import parse_range

    try:
        return parse_range(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _plan(args: argparse.Namespace) -> int:
    from controller.catalog import load_directory
    from controller.daemon import docker_runtime
    from controller.logging import configure
    from controller.preview import as_json as preview_json
    from controller.preview import preview
    from controller.preview import render as preview_text

    configure("console", "critical")
    result = load_directory(
        args.dir, manifest_commands.policy(args), limits=manifest_commands.limits(args)
    )
    if not result.ok:
        for err in result.errors:
            print(printable(str(err)), file=sys.stderr)
        print("fix the errors above; nothing was planned", file=sys.stderr)
        return 1
    previews, warnings = preview(
        result, args.data_dir, docker_runtime, args.cluster, policy=manifest_commands.policy(args)
    )
    for w in warnings:
        print(printable(f"warning: {w}"), file=sys.stderr)
    text = "\n".join(printable(line) for line in preview_text(previews).split("\n"))
    print(render(preview_json(previews), args.output, lambda wide: text))
    return 0


def _status(args: argparse.Namespace) -> int:
    from controller.cli.status_table import render_status

    client = Client.from_args(args)

    def show() -> tuple[str, str]:
        doc = client.status()
        fmt = args.output
        fingerprint = render_status(doc, ages=False)
        return render(doc, fmt, lambda wide: render_status(doc)), fingerprint

    return get_cli.print_or_watch(args, show)


def _completion(args: argparse.Namespace) -> int:
    import shtab

    print(shtab.complete(build_parser(), shell=args.shell))
    return 0


def _post(args: argparse.Namespace, path: str, body: dict[str, Any]) -> int:
    """Sends a command to the daemon; prints its answer; 0 when it was done."""
    client = Client.from_args(args)
    answer = client.expect(client.call("POST", path, body), "message")
    print(printable(str(answer["message"])))
    return 0


def _asg(args: argparse.Namespace) -> int:
    base = f"/v1/autoscaling-groups/{urllib.parse.quote(args.group, safe='')}"
    if args.action == "set-desired":
        return _post(args, f"{base}/desired-capacity", {"desiredCapacity": args.capacity})
    hook = {"instanceId": args.instance_id, "lifecycleHookName": args.hook}
    if args.action == "complete-lifecycle-action":
        body = hook | {"lifecycleActionResult": args.result}
        return _post(args, f"{base}/lifecycle-actions", body)
    return _post(args, f"{base}/lifecycle-heartbeats", hook)


def _instance(args: argparse.Namespace) -> int:
    base = f"/v1/instances/{urllib.parse.quote(args.instance_id, safe='')}"
    if args.action in ("protect", "unprotect"):
        body = {"protectedFromScaleIn": args.action == "protect"}
        return _post(args, f"{base}/protection", body)
    return _post(args, f"{base}/{args.action}", {})
