"""When a scheduled action fires, as EC2 Auto Scaling decides it: the occurrence due now (the
missed ones collapse into it) and the next one, within startTime and endTime. Pure: the clock
is an argument; the cron grammar and time zones are the model's (models/schedule.py)."""

from __future__ import annotations

from datetime import datetime

from controller.autoscaling.models.scaling import ScheduledActionSpec
from controller.autoscaling.models.schedule import (
    last_fire,
    next_fire,
    parse_cron,
    parse_time,
    zone,
)


def due(
    spec: ScheduledActionSpec, last_fired: float | None, created: float, now: float
) -> float | None:
    """The epoch time of the occurrence to fire now: the most recent one in
    (max(last_fired, created), now] within startTime and endTime, else None. Occurrences missed
    while the daemon was away collapse into that one."""
    since = created if last_fired is None else max(last_fired, created)
    if now <= since:
        return None
    start, end = bounds(spec)
    if spec.recurrence is None:
        return start if start is not None and since < start <= now else None
    until = now if end is None else min(now, end)
    found: list[float] = []
    if start is not None and since < start <= until:
        found.append(start)  # "performs the action at this time, and then ... the recurrence"
    if until > since:
        tz = zone(spec.time_zone)
        fire = last_fire(parse_cron(spec.recurrence), datetime.fromtimestamp(until, tz))
        floor = since if start is None else max(since, start)  # start itself is found above
        if fire is not None and fire.timestamp() > floor:
            found.append(fire.timestamp())
    return max(found, default=None)


def next_time(spec: ScheduledActionSpec, after: float) -> float | None:
    """The epoch time the action next fires strictly after `after`, or None if it never will:
    for status, and for the daemon to know when to wake up."""
    start, end = bounds(spec)
    if spec.recurrence is None:
        return start if start is not None and start > after else None
    if start is not None and start > after:
        return start if end is None or start <= end else None
    base = datetime.fromtimestamp(after, zone(spec.time_zone))
    fire = next_fire(parse_cron(spec.recurrence), base).timestamp()
    return fire if end is None or fire <= end else None


def bounds(spec: ScheduledActionSpec) -> tuple[float | None, float | None]:
    start = parse_time(spec.start_time, spec.time_zone).timestamp() if spec.start_time else None
    end = parse_time(spec.end_time, spec.time_zone).timestamp() if spec.end_time else None
    return start, end
