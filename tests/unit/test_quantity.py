"""Kubernetes quantity parsing and conversions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from jupyter_k8s.k8s.quantity import bytes_of, cpu_millis, format_cpu, parse_quantity


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", "0"),
        ("1", "1"),
        ("1.5", "1.5"),
        (".5", "0.5"),
        ("1.", "1"),
        ("+2", "2"),
        ("-2", "-2"),
        ("100m", "0.1"),
        ("250m", "0.25"),
        ("1n", "0.000000001"),
        ("1u", "0.000001"),
        ("1k", "1000"),
        ("1M", "1000000"),
        ("1G", "1000000000"),
        ("1T", "1000000000000"),
        ("1P", "1000000000000000"),
        ("1E", "1000000000000000000"),
        ("1Ki", "1024"),
        ("1Mi", "1048576"),
        ("1.5Gi", "1610612736"),
        ("1Ti", str(1024**4)),
        ("1Pi", str(1024**5)),
        ("2Ei", str(2 * 1024**6)),
        ("1e3", "1000"),
        ("1E3", "1000"),
        ("1e+3", "1000"),
        ("1.5e-3", "0.0015"),
        ("129e6", "129000000"),
    ],
)
def test_parse_strings(text: str, expected: str) -> None:
    assert parse_quantity(text) == Decimal(expected)


def test_parse_numbers() -> None:
    assert parse_quantity(3) == 3
    assert parse_quantity(0.1) == Decimal("0.1")  # not the binary float's long expansion
    assert parse_quantity(Decimal("2.5")) == Decimal("2.5")


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "abc",
        "1Kb",
        "1ki",
        "1 Gi",
        " 1",
        "1 ",
        "1\n",
        "1.2.3",
        "Ki",
        "1e",
        "1e1.5",
        "--1",
        "m",
        "1mm",
        "0x10",
        "1e99999",
        True,
        None,
        [],
        float("nan"),
        float("inf"),
        Decimal("NaN"),
    ],
)
def test_garbage_raises_value_error(garbage: object) -> None:
    with pytest.raises(ValueError, match="invalid quantity"):
        parse_quantity(garbage)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "millis"),
    [("100m", 100), ("0.1", 100), ("1", 1000), ("2.5", 2500), ("1n", 1), ("1001u", 2), (0, 0)],
)
def test_cpu_millis_rounds_up(text: str, millis: int) -> None:
    assert cpu_millis(text) == millis


@pytest.mark.parametrize(
    ("text", "value"),
    [("1Mi", 1048576), ("1.5k", 1500), ("1m", 1), ("128974848", 128974848), ("1e3", 1000)],
)
def test_bytes_of_rounds_up(text: str, value: int) -> None:
    assert bytes_of(text) == value


@pytest.mark.parametrize(
    ("q", "text"),
    [("1500m", "1500m"), ("2000m", "2"), (0.5, "500m"), ("0", "0"), (4, "4"), ("1n", "1m")],
)
def test_format_cpu(q: str | float, text: str) -> None:
    assert format_cpu(q) == text
