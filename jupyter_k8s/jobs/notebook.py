"""Pure notebook logic on the server side: read, find the parameters cell, check parameters.

Checking happens before submit so that a notebook that cannot run is a 400 with a reason now,
not a failed pod minutes later. Unknown parameters are only warnings, as in papermill: the
injected cell assigns them anyway and the notebook may read them through `globals()`.
"""

from __future__ import annotations

import ast
import json
import warnings
from typing import Any

import nbformat

from ..errors import ValidationProblem

PARAMETERS_TAG = "parameters"
DEFAULT_KERNEL = "python3"
DEFAULT_LANGUAGE = "python"

# JSON value type -> the Python type names a literal in the parameters cell may have.
_COMPATIBLE = {
    bool: {"bool"},
    int: {"int", "float", "complex"},
    float: {"float", "complex"},
    str: {"str"},
    list: {"list", "tuple", "set"},
    dict: {"dict"},
    type(None): {"NoneType"},
}


def read_notebook(data: bytes, path: str) -> dict[str, Any]:
    """Parse and validate notebook bytes; ValidationProblem (field 'notebook') if unusable.

    Older nbformat versions are upgraded to 4, as papermill will do in the pod.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationProblem(
            f"{path} is not a notebook: not UTF-8 text (byte {exc.start})", "notebook"
        ) from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationProblem(
            f"{path} is not a notebook: invalid JSON at line {exc.lineno}, column {exc.colno} "
            f"({exc.msg})",
            "notebook",
        ) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("nbformat"), int):
        raise ValidationProblem(f"{path} is not a notebook: no 'nbformat' version", "notebook")
    if raw["nbformat"] >= 4 and not isinstance(raw.get("cells"), list):
        raise ValidationProblem(f"{path} is not a notebook: no list of cells", "notebook")
    if _fast_valid(raw):
        from nbformat.v4.rwbase import rejoin_lines, strip_transient

        # What nbformat.reads does after parsing: sources as one string, no transient keys.
        return strip_transient(rejoin_lines(nbformat.from_dict(raw)))
    # Older formats, missing cell ids and the like: nbformat upgrades and repairs (slowly).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # missing cell ids and the like: nbformat fixes them
        try:
            nb = nbformat.reads(text, as_version=4)
            nbformat.validate(nb)
        except nbformat.ValidationError as exc:
            first = str(exc.message).splitlines()[0] if exc.message else str(exc)[:200]
            raise ValidationProblem(
                f"{path} is not a valid notebook: {first}", "notebook"
            ) from None
        except Exception as exc:  # nbformat raises several types for broken documents
            raise ValidationProblem(f"{path} is not a valid notebook: {exc}", "notebook") from None
    return nb


def _fast_valid(raw: dict[str, Any]) -> bool:
    """A current-format notebook that passes the schema as it is, checked in well under a
    millisecond (fastjsonschema) instead of nbformat.reads' ~80 ms for 1 MB: the submit path
    stays fast and does not hold up the event loop."""
    if raw.get("nbformat") != 4:
        return False
    try:
        from nbformat.validator import get_validator

        validator = get_validator(4, raw.get("nbformat_minor", 5), name="fastjsonschema")
        if validator is None:
            return False
        validator.validate(raw)
    except Exception:  # noqa: BLE001 - any problem: the thorough path decides and explains
        return False
    return True


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def parameters_cell(nb: dict[str, Any]) -> tuple[int, str] | None:
    """(index, source) of the first cell tagged 'parameters' (the one papermill uses)."""
    for index, cell in enumerate(nb.get("cells", [])):
        tags = (cell.get("metadata") or {}).get("tags") or []
        if PARAMETERS_TAG in tags:
            return index, _source(cell)
    return None


def _parse_python(source: str) -> ast.Module | None:
    """Parse a cell, dropping IPython magics and shell lines ('%', '!') that are not Python."""
    try:
        return ast.parse(source)
    except SyntaxError:
        pass
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _type_name(value: ast.expr | None, annotation: ast.expr | None = None) -> str:
    if annotation is not None:
        return ast.unparse(annotation)
    if value is None:
        return "unknown"
    try:
        return type(ast.literal_eval(value)).__name__
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return "expression"  # computed default (e.g. a call): the type is not known statically


def _names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple | ast.List):
        return [n for elt in target.elts for n in _names(elt)]
    return []


def declared_parameters(nb: dict[str, Any]) -> dict[str, str]:
    """Names assigned at top level of the parameters cell -> the type name of their value.

    Type names are those of the literal ('int', 'str', 'list', 'NoneType', ...), the
    annotation's text for `x: float = 1`, or 'expression' when the value is computed.
    Only Python notebooks are inspected; other languages (and unparsable cells) give {}.
    """
    found = parameters_cell(nb)
    if found is None or not _is_python(nb):
        return {}
    tree = _parse_python(found[1])
    if tree is None:
        return {}
    declared: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                names = _names(target)
                # `a, b = 1, 2`: each name's type is its own element's when the shapes match.
                elts = getattr(node.value, "elts", None)
                if isinstance(target, ast.Tuple | ast.List) and elts and len(elts) == len(names):
                    declared.update({n: _type_name(v) for n, v in zip(names, elts, strict=True)})
                else:
                    typ = _type_name(node.value) if isinstance(target, ast.Name) else "expression"
                    declared.update(dict.fromkeys(names, typ))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            declared[node.target.id] = _type_name(node.value, node.annotation)
    return declared


def check_parameters(nb: dict[str, Any], params: dict[str, Any]) -> list[str]:
    """Warnings (never errors) about parameters the notebook does not seem to expect."""
    if not params:
        return []
    if parameters_cell(nb) is None:
        return [
            "the notebook has no cell tagged 'parameters': the parameters are injected in a "
            "new first cell"
        ]
    if not _is_python(nb):
        return []  # other languages' cells are not parsed: nothing reliable to say
    declared = declared_parameters(nb)
    warnings_: list[str] = []
    for name, value in params.items():
        if name not in declared:
            warnings_.append(f"parameter {name!r} is not assigned in the 'parameters' cell")
            continue
        expected = declared[name]
        if expected == "NoneType":  # `x = None` is the usual "required, any type" default
            continue
        allowed = _COMPATIBLE.get(type(value))
        if allowed is not None and expected in _all_literal_types() and expected not in allowed:
            warnings_.append(
                f"parameter {name!r} is a {type(value).__name__} but the notebook's default "
                f"is a {expected}"
            )
    return warnings_


def _all_literal_types() -> set[str]:
    return set().union(*_COMPATIBLE.values())


def _is_python(nb: dict[str, Any]) -> bool:
    return kernel_and_language(nb)[1].lower() == DEFAULT_LANGUAGE


def kernel_and_language(nb: dict[str, Any]) -> tuple[str, str]:
    """(kernel name, language) from the notebook's metadata; python3/python when missing.

    papermill 2.7 needs both to translate parameters and start the kernel; guessing them
    here (once, on the server) keeps the pod from failing on a notebook without metadata.
    """
    meta = nb.get("metadata") or {}
    spec = meta.get("kernelspec") or {}
    info = meta.get("language_info") or {}
    kernel = spec.get("name") or DEFAULT_KERNEL
    language = spec.get("language") or info.get("name") or DEFAULT_LANGUAGE
    return str(kernel), str(language)  # as is: papermill's translators know 'R', not 'r'
