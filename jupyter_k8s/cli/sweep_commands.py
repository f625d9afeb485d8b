"""`jupyter k8s sweep` and `jupyter k8s results`: parameter sweeps from the command line
(`job_commands.cmd_sweep` submits what `sweep_request_data` builds).

    jupyter k8s sweep train.ipynb -p lr 0.1,0.01 -p batch 32,64 --parallel 4 [--zip] [--wait]
    jupyter k8s results ID [--csv | --json]

A sweep's -p VALUES is a comma-separated list, each value read as `-p` reads one (JSON, else
the string), or a JSON list (`-p sizes '[[1, 2], [3, 4]]'`); -r VALUES splits on commas and
keeps strings. One value is a parameter every index shares.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..jobs.sweep_runs import results
from ..jobs.sweeps import results_csv
from ..standalone import StandaloneJobs
from .exit_codes import EXIT_OK
from .options import RawValue, parse_value, submit_request_data
from .render import table


def parse_values(text: str) -> list[Any]:
    """One -p VALUES of a sweep: a JSON list as is, else comma-separated values."""
    if text.lstrip().startswith("["):
        value = parse_value(text)
        if isinstance(value, list):
            return value
    return [parse_value(part.strip()) for part in text.split(",")]


def sweep_parameters(pairs: list[list[str]] | None) -> dict[str, list[Any]]:
    """-p/-r NAME VALUES -> parameter name -> its list of values, in the order given."""
    swept: dict[str, list[Any]] = {}
    for name, text in pairs or []:
        if isinstance(text, RawValue):
            swept[name] = [part.strip() for part in str(text).split(",")]
        else:
            swept[name] = parse_values(text)
    return swept


def sweep_request_data(args: argparse.Namespace, notebook: str) -> dict[str, Any]:
    """The SubmitRequest JSON of `jupyter k8s sweep`."""
    data = submit_request_data(args, notebook)
    data["parameters"] = {}
    data["sweep"] = {
        "mode": "zip" if args.zip else "grid",
        "parameters": sweep_parameters(args.parameters),
    }
    data["parallelism"] = args.parallel
    return data


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value)


async def cmd_results(jobs: StandaloneJobs, args: argparse.Namespace) -> int:
    await jobs.connect()
    found = await results(jobs.service, args.job)
    if args.csv:
        print(results_csv(found), end="")
        return EXIT_OK
    if args.json:
        print(json.dumps(found, indent=2))
        return EXIT_OK
    print(table(results_rows(found)))
    return EXIT_OK


def results_rows(found: dict[str, Any]) -> list[list[str]]:
    """A results table (sweep_runs.results) as rows of text, the header first."""
    rows = [["INDEX", "STATUS", *found["parameters"], *found["records"]]]
    for row in found["rows"]:
        status = row["phase"] + (f" ({row['reason']})" if row["reason"] else "")
        rows.append(
            [
                str(row["index"]),
                status,
                *(_cell(row["parameters"].get(n)) for n in found["parameters"]),
                *(_cell(row["records"].get(n)) for n in found["records"]),
            ]
        )
    return rows
