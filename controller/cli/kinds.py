"""The names a user may give a kind on the command line, as kubectl users type them: the kind
itself in any case (`Service`, `service`), its plural (`services`), the initials of its words
(`tg` for TargetGroup, `asg`, `lb`, `td`) and a few habits from kubectl and the AWS CLI (`svc`,
`ec2`). Built from the kinds' names (KINDS), so a new kind gets its aliases from its name.

KINDS is the catalog's list of kinds, written out: every `skiff get` or `describe` would
otherwise import the catalog, every manifest model with it, for their names alone (1.9 s of
CPU against 0.35). A unit test holds it to the catalog."""

from __future__ import annotations

import re
from functools import cache

# Habits from other tools; a kind missing from the catalog is left out.
HABITS = {
    "svc": "Service",
    "taskdef": "TaskDefinition",
    "ec2": "Instance",
    "elb": "LoadBalancer",
    "alb": "LoadBalancer",
    "job-queue": "JobQueue",
}


class UnknownKind(ValueError):
    """str() names the word and lists the kinds."""


KINDS = (  # the catalog's order
    "Host",
    "TaskDefinition",
    "Service",
    "TargetGroup",
    "LoadBalancer",
    "LaunchTemplate",
    "Instance",
    "AutoScalingGroup",
    "ScalingPolicy",
    "ScheduledAction",
    "Alarm",
    "ComputeEnvironment",
    "JobQueue",
    "JobDefinition",
)


def _plural(word: str) -> str:
    if word.endswith("y"):
        return word[:-1] + "ies"
    return word + ("es" if word.endswith("s") else "s")


@cache
def aliases() -> dict[str, str]:
    """Every accepted word, lower-cased, and the kind it names."""
    table: dict[str, str] = {}
    initials: dict[str, set[str]] = {}
    for kind in KINDS:
        low = kind.lower()
        table[low] = table[_plural(low)] = kind
        words = re.findall(r"[A-Z][a-z0-9]*", kind)
        if len(words) > 1:
            hyphened = "-".join(words).lower()
            table[hyphened] = table[_plural(hyphened)] = kind
            short = "".join(w[0] for w in words).lower()
            initials.setdefault(short, set()).add(kind)
    for short, named in initials.items():  # an initialism two kinds share names neither
        if len(named) == 1 and short not in table:
            table[short] = table[_plural(short)] = next(iter(named))
    for word, kind in HABITS.items():
        if kind in KINDS:
            table.setdefault(word, kind)
    return table


def resolve(word: str) -> str:
    """The kind `word` names; UnknownKind lists them when it names none."""
    kind = aliases().get(word.strip().lower())
    if kind is None:
        raise UnknownKind(f"unknown kind {word!r}; the kinds are: {', '.join(KINDS)}")
    return kind


def split_reference(text: str) -> tuple[str, str | None]:
    """`KIND/NAME` (kubectl's form) as (kind word, name); `KIND` alone as (kind word, None)."""
    word, sep, name = text.partition("/")
    return word, (name if sep else None)
