"""The slug helper: valid Kubernetes names, unchanged when possible, hashed when not."""

from __future__ import annotations

import re

import pytest

from jupyter_k8s.names import (
    is_label,
    is_label_value,
    job_name,
    label_value,
    notebook_stem,
    owner_label,
    random_suffix,
    short_hash,
    slug,
)

RFC1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")

AWKWARD = [
    "My_Notebook",
    "my-notebook",
    "",
    "---",
    "Ünïcødé ñame",
    "日本語",
    "a" * 200,
    "-leading-and-trailing-",
    "dots.and_underscores",
    "UPPER",
    "x",
    "9starts-with-digit",
    "emoji 🎉 party",
    "a--b",
]


@pytest.mark.parametrize("text", AWKWARD)
def test_slug_is_always_a_valid_label(text):
    result = slug(text)
    assert RFC1123.fullmatch(result), result
    assert 0 < len(result) <= 63


def test_valid_text_is_kept():
    assert slug("my-notebook") == "my-notebook"
    assert slug("a--b") == "a--b"
    assert slug("9lives") == "9lives"


def test_changed_text_gets_a_hash_and_stays_distinct():
    assert slug("My_Notebook") == f"my-notebook-{short_hash('My_Notebook')}"
    assert slug("My_Notebook") != slug("my-notebook")
    assert slug("My Notebook") != slug("My_Notebook")
    assert slug("UPPER") != slug("upper")


def test_truncation_is_hashed_and_respects_max_len():
    long_a, long_b = "a" * 100, "a" * 101
    assert len(slug(long_a)) == 63
    assert slug(long_a) != slug(long_b)
    assert len(slug(long_a, max_len=20)) == 20
    # a valid label that is merely too long is hashed too
    assert slug("a" * 64) != "a" * 63


def test_empty_and_symbol_only_text_become_the_hash():
    assert slug("") == short_hash("")
    assert slug("___") == short_hash("___")
    assert slug("") != slug("___")


def test_no_dash_before_the_hash_doubled():
    result = slug("abc" + "-" * 80)
    assert "--" not in result


def test_prefix():
    assert slug("my-nb", prefix="nb-") == "nb-my-nb"
    assert slug("My_NB", max_len=30, prefix="nb-").startswith("nb-my-nb-")
    assert len(slug("x" * 100, max_len=30, prefix="nb-")) == 30
    with pytest.raises(ValueError):
        slug("x", prefix="-bad")
    with pytest.raises(ValueError):
        slug("x", max_len=10, prefix="prefix-")


@pytest.mark.parametrize("text", AWKWARD + ["user@example.com", "Jane.Doe_2"])
def test_label_value_is_valid(text):
    assert is_label_value(label_value(text))


def test_label_value_keeps_case_dots_and_underscores():
    assert label_value("Jane.Doe_2") == "Jane.Doe_2"
    assert label_value("user@example.com") == f"user-example.com-{short_hash('user@example.com')}"
    assert label_value("user@example.com") != label_value("user-example.com")
    assert len(label_value("u" * 80)) == 63


def test_job_name():
    name = job_name("folder/My Analysis.ipynb", "abc123")
    assert name.startswith("nb-my-analysis-") and name.endswith("-abc123")
    assert is_label(name)
    assert job_name("simple.ipynb", "abc123") == "nb-simple-abc123"
    long = job_name("x/" + "very-long-name" * 10 + ".ipynb", "zz9")
    assert len(long) <= 63 and is_label(long) and long.endswith("-zz9")
    assert job_name("My_Notebook.ipynb", "a1") != job_name("my-notebook.ipynb", "a1")
    with pytest.raises(ValueError):
        job_name("a.ipynb", "ABC")


def test_job_name_uses_six_chars_of_unique():
    assert job_name("a.ipynb", "abcdefgh") == "nb-a-abcdef"


def test_random_suffix():
    values = {random_suffix() for _ in range(50)}
    assert len(values) == 50
    assert all(re.fullmatch(r"[a-z0-9]{6}", v) for v in values)


def test_notebook_stem():
    assert notebook_stem("a/b/c.ipynb") == "c"
    assert notebook_stem("c.IPYNB") == "c"
    assert notebook_stem("noext") == "noext"


def test_owner_labels_do_not_collide_with_plain_names():
    # kubespawner CVE-2020-15110 class: a plain name equal to another's hashed form.
    hashed = owner_label("user-a@example.com")
    assert owner_label(hashed) != hashed
    assert owner_label("user-a-example.com-42788843") != owner_label("user-a@example.com")
    for name in ("user-a@example.com", "a--b", "@@@", "Ünïcødé", "x" * 80, "alice@corp.example"):
        label = owner_label(name)
        assert is_label_value(label) and label.count("--") == 1, (name, label)
        assert owner_label(label) != label  # a plain name never takes a hashed form
    for name in ("alice", "Bob_1", "a.b-c"):
        assert owner_label(name) == name


def test_owner_label():
    assert owner_label("alice") == "alice"
    assert owner_label("alice@corp.example") != owner_label("alice-corp.example")
    assert is_label_value(owner_label("Ünïcødé"))
    with pytest.raises(ValueError):
        owner_label("")
