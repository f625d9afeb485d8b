"""Container images with no registry: built from local files or Debian packages, as OCI layouts.

An image here is one OCI image layout packed as a tar (oci-layout, index.json, blobs/sha256/*),
which `ctr images import` reads; the index carries the image's full name in the annotation
containerd looks for (io.containerd.image.name), so pods name it as usual and run it with
`imagePullPolicy: IfNotPresent` (a pull would fail: no registry is reachable).

Layers are plain (uncompressed) tars: containerd unpacks them at once on import, and
compressing would only cost build time on a machine where they never travel.

Images are cached by a hash of what goes into them (the recipe), under
~/.cache/jupyter-k8s/images, so they are built once per machine and recipe.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..build import cache_root
from .errors import RealNodeError

Progress = Callable[[str], None]
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
# Bumped when the way images are put together changes, so cached ones are rebuilt.
BUILDER_VERSION = "1"

PAUSE_IMAGE = "localhost/jupyter-k8s/pause:1"
TINY_IMAGE = "localhost/jupyter-k8s/tiny:bookworm"
NOTEBOOK_IMAGE = "localhost/jupyter-k8s/notebook:bookworm"
SINGLEUSER_IMAGE = "localhost/jupyter-k8s/singleuser:bookworm"
# Where pip puts packages for Debian's python3 (its site dir for local installs).
PIP_SITE = "usr/local/lib/python3.11/dist-packages"


class ImageError(RealNodeError):
    pass


def images_cache() -> Path:
    return cache_root().parent / "images"


def _sha256_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def image_config(
    diff_ids: list[str],
    *,
    entrypoint: list[str] | None = None,
    cmd: list[str] | None = None,
    env: list[str] | None = None,
    workdir: str | None = None,
    user: str | None = None,
    created: str = "1970-01-01T00:00:00Z",
) -> dict:
    """The OCI image configuration (what runs, and the layers' uncompressed digests)."""
    run: dict[str, object] = {
        "Env": env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    }
    if entrypoint:
        run["Entrypoint"] = entrypoint
    if cmd:
        run["Cmd"] = cmd
    if workdir:
        run["WorkingDir"] = workdir
    if user:
        run["User"] = user
    return {
        "created": created,
        "architecture": _oci_arch(),
        "os": "linux",
        "config": run,
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{d}" for d in diff_ids]},
        "history": [{"created": created, "created_by": "jupyter-k8s images.py"}],
    }


def _oci_arch() -> str:
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _blob(tar: tarfile.TarFile, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    _add_bytes(tar, f"blobs/sha256/{digest}", data)
    return digest, len(data)


def _json(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def write_oci_layout(out: Path, name: str, layers: list[Path], config: dict) -> None:
    """An OCI layout tar at `out` holding one image `name` (registry/repo:tag) of `layers`.

    `config` is image_config(...) whose diff_ids must match the layers (plain tars)."""
    if ":" not in name.rsplit("/", 1)[-1]:
        raise ImageError(f"image name {name!r} needs a tag")
    tmp = out.with_suffix(".partial")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        layer_descs = []
        for layer in layers:
            digest, size = _sha256_file(layer)
            tar.add(layer, arcname=f"blobs/sha256/{digest}")
            layer_descs.append({"mediaType": OCI_LAYER, "digest": f"sha256:{digest}", "size": size})
        cfg_digest, cfg_size = _blob(tar, _json(config))
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": f"sha256:{cfg_digest}", "size": cfg_size},
            "layers": layer_descs,
        }
        man_digest, man_size = _blob(tar, _json(manifest))
        tag = name.rsplit(":", 1)[1]
        index = {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": f"sha256:{man_digest}",
                    "size": man_size,
                    "platform": {"architecture": _oci_arch(), "os": "linux"},
                    "annotations": {
                        "io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": tag,
                    },
                }
            ],
        }
        _add_bytes(tar, "index.json", _json(index))
    tmp.replace(out)


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """A layer member as every image here has it: root's, dated the epoch (reproducible)."""
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = 0
    return info


def files_layer(out: Path, files: Iterable[tuple[str, Path, int]]) -> str:
    """A layer tar of (path in image, file on host, mode); its sha256 (the diff id)."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for arcname, src, mode in files:
            info = _root_owned(tar.gettarinfo(str(src), arcname=arcname.lstrip("/")))
            info.mode = mode
            with open(src, "rb") as f:
                tar.addfile(info, f)
    return _sha256_file(out)[0]


@dataclass(frozen=True)
class DebianRecipe:
    """An image made by mmdebstrap from Debian packages, plus pip packages Debian lacks.

    `pip` requirements are installed by the host's pip with --no-deps into a second layer at
    PIP_SITE (their dependencies must come from `packages`): the host needs the same Python
    minor version as the suite's python3 for packages with compiled parts. With `pip_deps`,
    pip resolves and installs their dependencies from the package index too. `wheels`: local
    wheel files installed the same way, part of the key by their content."""

    name: str  # full image name with tag
    suite: str = "bookworm"
    variant: str = "essential"
    packages: tuple[str, ...] = ()
    pip: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ("/bin/sh",)
    extra: dict[str, str] = field(default_factory=dict)
    pip_deps: bool = False
    wheels: tuple[Path, ...] = ()

    def key(self) -> str:
        optional: dict[str, object] = {}
        # Only when set, so the keys (and cached archives) of recipes without them stay valid.
        if self.pip_deps:
            optional["pip_deps"] = True
        if self.wheels:
            optional["wheels"] = sorted(wheel_content_hash(w) for w in self.wheels)
        text = json.dumps(
            {
                **optional,
                "builder": BUILDER_VERSION,
                "name": self.name,
                "suite": self.suite,
                "variant": self.variant,
                "packages": sorted(self.packages),
                "pip": sorted(self.pip),
                "cmd": list(self.cmd),
                "extra": self.extra,
            },
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_archive(label: str, key: str) -> Path:
    return images_cache() / f"{label}-{key}.oci.tar"


def _label(name: str) -> str:
    return name.rsplit("/", 1)[-1].replace(":", "-")


def ensure_pause_image(pause_binary: Path, progress: Progress = print) -> tuple[str, Path]:
    """The sandbox image (our pause binary alone); (name, OCI archive)."""
    digest = _sha256_file(pause_binary)[0][:16]
    out = cached_archive(_label(PAUSE_IMAGE), f"{BUILDER_VERSION}-{digest}")
    if out.is_file():
        return PAUSE_IMAGE, out
    out.parent.mkdir(parents=True, exist_ok=True)
    layer = out.with_suffix(".layer.tar")
    diff_id = files_layer(layer, [("pause", pause_binary, 0o755)])
    config = image_config([diff_id], entrypoint=["/pause"], user="65535:65535")
    write_oci_layout(out, PAUSE_IMAGE, [layer], config)
    layer.unlink()
    progress(f"image {PAUSE_IMAGE} built ({out.stat().st_size // 1024} KiB)")
    return PAUSE_IMAGE, out


def mmdebstrap_argv(recipe: DebianRecipe, out_tar: Path) -> list[str]:
    argv = ["mmdebstrap", f"--variant={recipe.variant}", "--mode=root", "--quiet"]
    if recipe.packages:
        argv.append("--include=" + ",".join(sorted(recipe.packages)))
    # What only bloats an image: apt's lists and caches, docs and man pages.
    argv += [
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--customize-hook=rm -rf $1/var/lib/apt/lists/* $1/var/cache/apt/*",
        recipe.suite,
        str(out_tar),
    ]
    return argv


def ensure_debian_image(recipe: DebianRecipe, progress: Progress = print) -> tuple[str, Path]:
    """Build (once per recipe) an image from Debian packages; (name, OCI archive)."""
    out = cached_archive(_label(recipe.name), recipe.key())
    if out.is_file():
        return recipe.name, out
    if shutil.which("mmdebstrap") is None:
        raise ImageError(
            "mmdebstrap builds the node's images from Debian packages: apt-get install mmdebstrap"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    rootfs = out.with_suffix(".rootfs.tar")
    started = time.monotonic()
    progress(f"building image {recipe.name} from Debian {recipe.suite} ({recipe.variant})")
    proc = subprocess.run(mmdebstrap_argv(recipe, rootfs), capture_output=True, text=True)
    if proc.returncode != 0:
        rootfs.unlink(missing_ok=True)
        raise ImageError(
            f"mmdebstrap failed (exit {proc.returncode}): {(proc.stderr or proc.stdout)[-2000:]}"
        )
    layers = [rootfs]
    if recipe.pip or recipe.wheels:
        requirements = (*recipe.pip, *map(str, recipe.wheels))
        layers.append(_pip_layer(requirements, out.with_suffix(".pip.tar"), recipe.pip_deps))
    diff_ids = [_sha256_file(layer)[0] for layer in layers]
    config = image_config(diff_ids, cmd=list(recipe.cmd))
    write_oci_layout(out, recipe.name, layers, config)
    for layer in layers:
        layer.unlink()
    progress(
        f"image {recipe.name} built in {time.monotonic() - started:.0f} s "
        f"({out.stat().st_size // (1 << 20)} MiB)"
    )
    return recipe.name, out


def _pip_layer(requirements: tuple[str, ...], out: Path, deps: bool = False) -> Path:
    """A layer of `pip install --target` (dependencies only with `deps`), scripts in
    /usr/local/bin, data files (share/, etc/) under /usr/local, where Jupyter looks."""
    if sys.version_info[:2] != (3, 11):
        # PIP_SITE and compiled wheels are for bookworm's python3.
        raise ImageError(
            f"pip layers are installed by the host's Python for bookworm's python3.11; this "
            f"is Python {sys.version_info[0]}.{sys.version_info[1]}"
        )
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        site = Path(tmp) / PIP_SITE
        argv = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile"]
        argv += [] if deps else ["--no-deps"]
        argv += ["--target", str(site), *requirements]
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ImageError(f"pip install {' '.join(requirements)} failed: {proc.stderr[-2000:]}")
        scripts = site / "bin"
        bindir = Path(tmp) / "usr/local/bin"
        bindir.mkdir(parents=True)
        if scripts.is_dir():
            for script in scripts.iterdir():
                text = script.read_text()
                # The host's interpreter path means nothing in the image.
                if text.startswith("#!"):
                    text = "#!/usr/bin/python3\n" + text.split("\n", 1)[1]
                (bindir / script.name).write_text(text)
                (bindir / script.name).chmod(0o755)
            shutil.rmtree(scripts)
        # pip --target puts a wheel's data files (jupyterlab's app dir and labextensions, the
        # server extensions' config) beside the packages; Jupyter reads them from /usr/local.
        for data in ("share", "etc"):
            if (site / data).is_dir():
                shutil.copytree(site / data, Path(tmp) / "usr/local" / data, dirs_exist_ok=True)
                shutil.rmtree(site / data)
        with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(Path(tmp).rglob("*")):
                info = _root_owned(tar.gettarinfo(str(path), arcname=str(path.relative_to(tmp))))
                info.mode |= 0o444 if not info.isdir() else 0o555
                if info.isreg():
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    return out


TINY = DebianRecipe(name=TINY_IMAGE)
# What a notebook job needs: `python` with papermill and the python3 kernel, and numpy.
NOTEBOOK = DebianRecipe(
    name=NOTEBOOK_IMAGE,
    packages=(
        "ca-certificates",
        "python-is-python3",
        "python3",
        "python3-click",
        "python3-entrypoints",
        "python3-ipykernel",
        "python3-nbclient",
        "python3-nbformat",
        "python3-numpy",
        "python3-requests",
        "python3-tenacity",
        "python3-tqdm",
        "python3-yaml",
    ),
    pip=("papermill==2.7.0",),
    cmd=("python",),
)


# -- the JupyterHub single-user image ------------------------------------------------------------

# What KubeSpawner's pods run: jupyterhub-singleuser with JupyterLab and this project's
# extension. Pinned as the project's own tests run them (pyproject's test dependencies).
SINGLEUSER_PIP = ("jupyterhub==6.1.1", "jupyter-server==2.21.1", "jupyterlab==4.6.6")


def singleuser_recipe(wheel: Path) -> DebianRecipe:
    """The single-user image of `wheel` (this project's, see project_wheel): Debian's python3,
    everything else from the package index with its dependencies."""
    return DebianRecipe(
        name=SINGLEUSER_IMAGE,
        # libstdc++6: what the manylinux wheels with C++ in them (pyzmq) link against.
        packages=("ca-certificates", "libstdc++6", "python-is-python3", "python3"),
        pip=SINGLEUSER_PIP,
        pip_deps=True,
        wheels=(wheel,),
        cmd=("jupyterhub-singleuser",),
    )


def wheel_content_hash(wheel: Path) -> str:
    """A hash of a wheel's member names and contents: two builds of the same source differ in
    their zip timestamps, not here."""
    h = hashlib.sha256()
    try:
        with zipfile.ZipFile(wheel) as zf:
            for name in sorted(zf.namelist()):
                h.update(name.encode() + b"\0" + hashlib.sha256(zf.read(name)).digest())
    except (OSError, zipfile.BadZipFile) as exc:
        raise ImageError(f"{wheel} is not a readable wheel: {exc}") from exc
    return h.hexdigest()[:16]


def project_source() -> Path:
    """The source checkout this package runs from (an editable install)."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "pyproject.toml").is_file() or not (root / "jupyter_k8s").is_dir():
        raise ImageError(
            f"the single-user image needs this project's source checkout (not found at {root})"
        )
    return root


def project_wheel(out_dir: Path, progress: Progress = print) -> Path:
    """Build this project's wheel from its checkout (`python -m build --wheel`, about 1 min)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("jupyter_k8s-*.whl"):
        old.unlink()
    progress("building this project's wheel (python -m build --wheel)")
    argv = [
        sys.executable,
        "-m",
        "build",
        "--wheel",
        "--outdir",
        str(out_dir),
        str(project_source()),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True)
    wheels = sorted(out_dir.glob("jupyter_k8s-*.whl"))
    if proc.returncode != 0 or len(wheels) != 1:
        raise ImageError(
            f"building the wheel failed (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout)[-2000:]}"
        )
    return wheels[0]


def ensure_singleuser_image(progress: Progress = print) -> tuple[str, Path]:
    """The JupyterHub single-user image of this checkout: the wheel is built each time (its
    content picks the cached image), the image only when that content is new."""
    wheel = project_wheel(images_cache() / "wheel", progress)
    return ensure_debian_image(singleuser_recipe(wheel), progress)


def main(argv: list[str] | None = None) -> int:
    """`python -m jupyter_k8s.devcluster.realnode.images singleuser`: build (or find) the image."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("image", choices=("singleuser",))
    parser.parse_args(argv)
    try:
        name, archive = ensure_singleuser_image()
    except ImageError as exc:
        print(f"error: {exc}")
        return 1
    print(f"{name}: {archive} ({archive.stat().st_size // (1 << 20)} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
