"""Recipe keys of the real node's images (realnode/images.py): what picks a cached archive."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from jupyter_k8s.devcluster.realnode import images


def _wheel(path: Path, files: dict[str, bytes], date: tuple[int, int, int, int, int, int]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=date), data)
    return path


FILES = {"jupyter_k8s/__init__.py": b"x = 1\n", "jupyter_k8s-0.1.0.dist-info/WHEEL": b"w\n"}


def test_keys_of_existing_recipes_do_not_move():
    # The fields added for the single-user image stay out of the key unless set: machines keep
    # their cached tiny and notebook archives. (A BUILDER_VERSION bump changes these on purpose.)
    assert images.TINY.key() == "c6bf472a7d8e7db5"
    assert images.NOTEBOOK.key() == "8c4fa66ecaa72179"


def test_wheel_hash_is_of_content_not_zip_timestamps(tmp_path: Path):
    a = _wheel(tmp_path / "a.whl", FILES, (2020, 1, 1, 0, 0, 0))
    b = _wheel(tmp_path / "b.whl", dict(reversed(FILES.items())), (2026, 11, 29, 23, 0, 0))
    c = _wheel(
        tmp_path / "c.whl", {**FILES, "jupyter_k8s/__init__.py": b"x = 2\n"}, (2020, 1, 1, 0, 0, 0)
    )
    assert images.wheel_content_hash(a) == images.wheel_content_hash(b)
    assert images.wheel_content_hash(a) != images.wheel_content_hash(c)
    assert images.singleuser_recipe(a).key() == images.singleuser_recipe(b).key()
    assert images.singleuser_recipe(a).key() != images.singleuser_recipe(c).key()


def test_singleuser_recipe(tmp_path: Path):
    wheel = _wheel(tmp_path / "jupyter_k8s-0.1.0-py3-none-any.whl", FILES, (2020, 1, 1, 0, 0, 0))
    recipe = images.singleuser_recipe(wheel)
    assert recipe.name == images.SINGLEUSER_IMAGE
    assert recipe.pip_deps and recipe.wheels == (wheel,)
    assert recipe.cmd == ("jupyterhub-singleuser",)
    assert all("==" in req for req in recipe.pip)  # pinned: the key names what is installed
    # Resolving dependencies is a different image than installing the requirements alone.
    no_deps = images.DebianRecipe(name=recipe.name, packages=recipe.packages, pip=recipe.pip)
    assert no_deps.key() != images.DebianRecipe(**{**no_deps.__dict__, "pip_deps": True}).key()


def test_a_broken_wheel_is_a_clear_error(tmp_path: Path):
    bad = tmp_path / "bad.whl"
    bad.write_bytes(b"not a zip")
    with pytest.raises(images.ImageError, match="not a readable wheel"):
        images.wheel_content_hash(bad)
    with pytest.raises(images.ImageError, match="not a readable wheel"):
        images.singleuser_recipe(tmp_path / "missing.whl").key()
