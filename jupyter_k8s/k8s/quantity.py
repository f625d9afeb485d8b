"""Kubernetes resource quantities ("500m", "1Gi", "1.5", "2e3") as exact decimals.

The grammar is the one of k8s.io/apimachinery/pkg/api/resource:

    <quantity> ::= <signedNumber><suffix>
    <suffix>   ::= <binarySI> | <decimalExponent> | <decimalSI>
    binarySI   ::= Ki | Mi | Gi | Ti | Pi | Ei
    decimalSI  ::= n | u | m | "" | k | M | G | T | P | E
    exponent   ::= e<signedInteger> | E<signedInteger>

Values are kept as `Decimal` so that "0.1" CPU is exactly 100 millicores; conversions to
integers round up, as `Quantity.Value()` and `Quantity.MilliValue()` do.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Context, Decimal, InvalidOperation

Quantity = str | int | float | Decimal

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}

_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)"
_QUANTITY = re.compile(
    rf"(?P<number>{_NUMBER})"
    r"(?:(?P<binary>[KMGTPE]i)|[eE](?P<exp>[+-]?\d+)|(?P<decimal>[numkMGTPE]?))"
)

# Plenty of digits: 1Ei is 19 digits and exponents can push far past the default 28.
_CTX = Context(prec=100)


def parse_quantity(q: Quantity) -> Decimal:
    """Parse a quantity into its exact value ("1Ki" -> 1024, "250m" -> 0.25)."""
    # Bad types raise ValueError too (not TypeError): callers catch one error for bad specs.
    if isinstance(q, bool):  # bool is an int subclass; True as "1" would hide a bug
        raise ValueError(f"invalid quantity {q!r}: not a number")
    if isinstance(q, Decimal | int):
        return _finite(Decimal(q), q)
    if isinstance(q, float):
        # str() gives the shortest repr, so 0.1 becomes Decimal("0.1"), not the binary float.
        return _finite(Decimal(str(q)), q)
    if not isinstance(q, str):
        raise ValueError(f"invalid quantity {q!r}: expected a string or a number")
    match = _QUANTITY.fullmatch(q)  # no trimming: the API server rejects " 1" too
    if not match:
        raise ValueError(f"invalid quantity {q!r}: expected a number with an optional suffix")
    number = Decimal(match["number"])
    if match["binary"]:
        return _CTX.multiply(number, Decimal(1024) ** _BINARY[match["binary"]])
    exponent = int(match["exp"]) if match["exp"] is not None else _DECIMAL[match["decimal"]]
    if abs(exponent) > 1000:  # the API server caps these too; avoids absurd numbers
        raise ValueError(f"invalid quantity {q!r}: exponent out of range")
    return _CTX.multiply(number, Decimal(10) ** exponent)


def _finite(value: Decimal, original: object) -> Decimal:
    try:
        if value.is_finite():
            return value
    except InvalidOperation:
        pass
    raise ValueError(f"invalid quantity {original!r}: not a finite number")


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def cpu_millis(q: Quantity) -> int:
    """Millicores, rounded up like `Quantity.MilliValue()` ("0.1" -> 100, "1n" -> 1)."""
    return _ceil(_CTX.multiply(parse_quantity(q), Decimal(1000)))


def bytes_of(q: Quantity) -> int:
    """The integer value (bytes for memory), rounded up like `Quantity.Value()`."""
    return _ceil(parse_quantity(q))


def format_cpu(q: Quantity) -> str:
    """Canonical CPU text as the API server would print it: "2" for whole cores, else "1500m".

    Sub-millicore precision is rounded up, since the kubelet cannot honour it anyway.
    """
    millis = cpu_millis(q)
    if millis % 1000 == 0:
        return str(millis // 1000)
    return f"{millis}m"
