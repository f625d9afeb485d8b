"""The one slug helper: every Kubernetes name and label value jupyter-k8s derives from user text.

Two rules keep names safe and distinct:

* the result always satisfies the Kubernetes grammar (RFC 1123 label, or label value), so the
  API server never rejects an object because of a notebook's file name or a user's name;
* whenever the text had to be changed (case, characters, length) a short sha256 of the original
  text is appended, so two different texts never silently map to the same name
  (`My_Notebook` -> `my-notebook-1a2b3c4d`, `my-notebook` -> `my-notebook`).
"""

from __future__ import annotations

import hashlib
import re
import secrets

#: Kubernetes limits label values and most names (Job, Pod labels) to 63 characters.
MAX_LABEL = 63
HASH_LEN = 8

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_NOT_LABEL = re.compile(r"[^a-z0-9]+")
_NOT_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]+")
_UNIQUE_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def short_hash(text: str, length: int = HASH_LEN) -> str:
    """A few hex digits of sha256: enough to tell names apart, short enough to fit in 63."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def is_label(text: str, max_len: int = MAX_LABEL) -> bool:
    """True if `text` is a valid RFC 1123 label (lowercase alnum and '-', alnum at both ends)."""
    return 0 < len(text) <= max_len and _LABEL.fullmatch(text) is not None


def is_label_value(text: str) -> bool:
    """True if `text` is a valid (possibly empty) Kubernetes label value."""
    return len(text) <= MAX_LABEL and _LABEL_VALUE.fullmatch(text) is not None


def slug(text: str, max_len: int = MAX_LABEL, prefix: str = "") -> str:
    """An RFC 1123 label of at most `max_len` characters (prefix included) made from `text`.

    `prefix` (e.g. "nb-") is put in front unchanged and must itself start with a letter or
    digit. Text that is already a valid label and fits is kept as is; otherwise it is
    lowercased, runs of other characters become '-', and `-<hash>` is appended so that the
    result stays unique to the original text. Never empty: text with no usable character
    becomes the hash alone.
    """
    if prefix and not re.fullmatch(r"[a-z0-9][-a-z0-9]*", prefix):
        raise ValueError(f"invalid slug prefix {prefix!r}")
    room = max_len - len(prefix)
    if room < HASH_LEN + 2:  # room for at least "x-<hash>"
        raise ValueError(f"max_len {max_len} leaves no room for a name after {prefix!r}")
    if is_label(text, room):
        return prefix + text
    cleaned = _NOT_LABEL.sub("-", text.lower()).strip("-")
    digest = short_hash(text)
    if not cleaned:
        return prefix + digest
    keep = cleaned[: room - HASH_LEN - 1].rstrip("-")
    return f"{prefix}{keep}-{digest}"


def label_value(text: str) -> str:
    """A valid label value (63 characters; alnum, '-', '_', '.') made from `text`.

    Unlike `slug`, case and '_'/'.' are kept, since label values allow them; text that is
    already valid comes back unchanged, anything else gets the hash suffix.
    """
    if is_label_value(text):
        return text
    cleaned = _NOT_LABEL_VALUE.sub("-", text)
    cleaned = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)
    digest = short_hash(text)
    if not cleaned:
        return digest
    keep = re.sub(r"[^A-Za-z0-9]+$", "", cleaned[: MAX_LABEL - HASH_LEN - 1])
    return f"{keep}-{digest}" if keep else digest


def random_suffix(length: int = 6) -> str:
    """Random lowercase alnum characters to make a Job name unique (36**6 ~ 2e9 values)."""
    return "".join(secrets.choice(_UNIQUE_ALPHABET) for _ in range(length))


def notebook_stem(notebook_path: str) -> str:
    """The file name without folders and without the `.ipynb` extension."""
    name = notebook_path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return name[: -len(".ipynb")] if name.lower().endswith(".ipynb") else name


def job_name(notebook_path: str, unique: str) -> str:
    """`nb-<slug of the notebook's stem>-<unique>`, at most 63 characters.

    63 and not 253: the Job controller copies the name into the pods' `job-name` label.
    `unique` (see `random_suffix`) is what makes two runs of one notebook distinct; only its
    first 6 characters are used and it must be lowercase alnum.
    """
    unique = unique[:6]
    if not re.fullmatch(r"[a-z0-9]{1,6}", unique):
        raise ValueError(f"job name suffix must be lowercase letters and digits, got {unique!r}")
    stem = slug(notebook_stem(notebook_path), max_len=MAX_LABEL - len(unique) - 1, prefix="nb-")
    return f"{stem}-{unique}"


# Between the readable part and the hash of an owner label. A name kept as it is never
# contains it, so a plain name can't pose as the hashed form of another (the kubespawner
# CVE-2020-15110 class: "user-a@example.com" vs "user-a-example.com-<its hash>").
OWNER_HASH_SEPARATOR = "--"


def owner_label(username: str) -> str:
    """The value of the `jupyter-k8s.io/owner` label for a Jupyter user name.

    A valid label value without "--" is kept as it is ("alice"); any other name becomes
    `<readable part>--<hash>`, where the readable part has no "--" either. Two names give one
    label only through a hash collision; even then the exact name, in the
    `jupyter-k8s.io/username` annotation, tells them apart (the label is for finding).
    """
    if not username:
        raise ValueError("a job needs an owner: the user name is empty")
    if is_label_value(username) and OWNER_HASH_SEPARATOR not in username:
        return username
    readable = re.sub(r"[^A-Za-z0-9]+", "-", username).strip("-")
    digest = short_hash(username)
    room = MAX_LABEL - len(OWNER_HASH_SEPARATOR) - HASH_LEN
    readable = readable[:room].rstrip("-") or "u"  # a value starts with a letter or digit
    return f"{readable}{OWNER_HASH_SEPARATOR}{digest}"
