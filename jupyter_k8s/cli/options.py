"""Options shared by `jupyter k8s submit` and `%k8s_submit`, and the parsers of their values.

Parameters (-p/-r, read as papermill reads them), environment variables, durations, the
cluster to talk to: the magic builds its argument parser from these same functions, so the
two accept the same spellings and make the same SubmitRequest.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from typing import TypeAlias

    #: What `add_subparsers()` returns: each command module adds its parsers to it.
    Subcommands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _no_constant(text: str) -> NoReturn:
    raise ValueError(text)  # NaN and Infinity are not JSON


def parse_value(text: str) -> Any:
    """A parameter value as papermill's -p reads it, with JSON on top.

    JSON first (5 -> 5, 1.5 -> 1.5, true -> True, null -> None, "y" -> 'y', [1, 2] -> list,
    {"k": 1} -> dict); papermill's Python spellings True, False and None too; anything else
    is the string as given (so `-p name Alice` needs no quotes).
    """
    python = {"True": True, "False": False, "None": None}
    if text in python:
        return python[text]
    try:
        return json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except ValueError:
        return text


class RawValue(str):
    """A -r VALUE: kept the string as given, never parsed (see `parse_parameters`)."""


class _RawParameter(argparse.Action):
    """-r NAME VALUE: joins the -p list where it was given, its value marked RawValue.

    One list for both keeps the order of the command line (`-p a 1 -r b x -p c 2` injects a,
    b, c), which papermill's own CLI loses by putting every -r after every -p.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        name, value = values
        items = list(getattr(namespace, "parameters", None) or [])
        items.append([name, RawValue(value)])
        namespace.parameters = items


def parse_parameters(
    pairs: list[list[str]] | None, raw_pairs: list[list[str]] | None = None
) -> dict[str, Any]:
    """-p NAME VALUE (parsed) and -r NAME VALUE (kept a string) -> the parameters, in order.

    The order is the user's: the runner injects them in it, as papermill does. A name given
    twice keeps its first place and its last value (a dict's update, as in papermill).
    `pairs` may hold RawValue values (-r as parsed by `add_parameter_options`); `raw_pairs`
    come after all of `pairs`.
    """
    params: dict[str, Any] = {}
    for name, value in pairs or []:
        params[name] = str(value) if isinstance(value, RawValue) else parse_value(value)
    for name, value in raw_pairs or []:
        params[name] = value
    return params


def parse_env(items: list[str] | None) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise argparse.ArgumentTypeError(f"--env {item!r}: expected NAME=VALUE")
        env[name] = value
    return env


_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?")


def parse_duration(text: str) -> int:
    """Seconds from '90', '90s', '15m', '2h', '1h30m' or '1d' (argparse type)."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not text.strip() or not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (90, 90s, 15m, 2h, 1h30m)")
    d, h, m, sec = (int(g or 0) for g in match.groups())
    seconds = ((d * 24 + h) * 60 + m) * 60 + sec
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the duration must be positive")
    return seconds


def nonnegative(text: str) -> int:
    """A whole number >= 0 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """--kubeconfig, --context, --namespace: override c.JupyterK8s.* for this command."""
    group = parser.add_argument_group("cluster (default: c.JupyterK8s.* from Jupyter config)")
    group.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file")
    group.add_argument("--context", metavar="NAME", help="kubeconfig context")
    group.add_argument("--namespace", "-n", metavar="NS", help="namespace of the jobs")


def add_parameter_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-p",
        "--parameters",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        dest="parameters",
        help="a parameter injected after the cell tagged 'parameters'; VALUE is read as JSON "
        "(5, 1.5, true, null, '\"text\"', '[1, 2]'), else as a string (repeatable)",
    )
    parser.add_argument(
        "-r",
        "--parameters-raw",
        nargs=2,
        action=_RawParameter,
        metavar=("NAME", "VALUE"),
        # Stored in args.parameters with the -p ones, in the order given; this dest stays
        # None (callers still pass it to parse_parameters).
        dest="parameters_raw",
        help="a parameter whose VALUE is kept a string as given (repeatable)",
    )


def add_submit_options(
    parser: argparse.ArgumentParser, *, follow: bool = True, wait: bool = True
) -> None:
    """The options of `submit`; the %k8s_submit magic shares them (follow=False), and
    `schedule create` (follow=False, wait=False: nobody waits for a schedule's runs)."""
    add_parameter_options(parser)
    parser.add_argument("--profile", metavar="P", help="resource profile (see `profiles`)")
    parser.add_argument("--image", metavar="I", help="container image (default: the profile's)")
    parser.add_argument(
        "--queue", metavar="Q", help="Kueue LocalQueue, one the profile allows (default: its)"
    )
    parser.add_argument(
        "--priority-class",
        metavar="C",
        help="Kueue WorkloadPriorityClass, one the profile allows (default: its)",
    )
    parser.add_argument(
        "--env",
        action="append",
        metavar="K=V",
        help="an environment variable of the job (repeatable)",
    )
    parser.add_argument(
        "--secret",
        action="append",
        metavar="NAME",
        dest="secrets",
        help="an existing Secret whose keys become environment variables (repeatable)",
    )
    parser.add_argument(
        "--timeout",
        type=parse_duration,
        metavar="S",
        help="stop the job after this long (seconds, or 15m, 2h, 1h30m)",
    )
    parser.add_argument(
        "--retries", type=nonnegative, default=0, metavar="N", help="retries after a crash"
    )
    parser.add_argument(
        "--ship-folder",
        action="store_true",
        help="copy the notebook's folder (small data files, modules) to the job",
    )
    if follow:
        parser.add_argument(
            "-f", "--follow", action="store_true", help="stream the job's log, then --wait"
        )
    if not wait:
        return
    parser.add_argument(
        "--wait",
        action="store_true",
        help="wait until the job ends; "
        + ("exit 0 only when it succeeded" if follow else "an error if it did not succeed"),
    )


def add_sweep_options(parser: argparse.ArgumentParser) -> None:
    """What a sweep adds to the submit options (`jupyter k8s sweep`, `%k8s_sweep`)."""
    parser.add_argument(
        "--parallel",
        type=nonnegative,
        default=1,
        metavar="N",
        help="how many parameter sets run at once (capped by the profile)",
    )
    parser.add_argument(
        "--zip", action="store_true", help="pair the i-th values (default: every combination)"
    )


def submit_request_data(args: argparse.Namespace, notebook: str) -> dict[str, Any]:
    """The SubmitRequest JSON for parsed submit options."""
    data: dict[str, Any] = {
        "notebook": notebook,
        "parameters": parse_parameters(args.parameters, getattr(args, "parameters_raw", None)),
        "profile": args.profile,
        "image": args.image,
        "env": parse_env(args.env),
        "secrets": args.secrets or [],
        "retries": args.retries,
        "ship_folder": args.ship_folder,
    }
    if args.timeout is not None:
        data["timeout_seconds"] = args.timeout
    for key in ("queue", "priority_class"):  # docs/queues.md
        if getattr(args, key, None):
            data[key] = getattr(args, key)
    return data
