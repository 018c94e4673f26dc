"""The example scenarios shipped inside the package, and writing them out (``socbal init``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from socbal.errors import InputError
from socbal.resultfiles import write_atomic


def example_files() -> dict[str, bytes]:
    """The shipped example scenarios by file name (``*.toml``), in name order."""
    folder = resources.files("socbal") / "examples"
    files = {item.name: item.read_bytes() for item in folder.iterdir() if item.name.endswith(".toml")}
    return dict(sorted(files.items()))


def write_examples(folder: str | Path, force: bool = False) -> list[Path]:
    """Write every shipped example into ``folder``; refuses to overwrite a file unless ``force``.

    Checks every target before writing any, so nothing is written halfway.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"DIR: {folder} is a file, expected a folder to write the examples into")
    files = example_files()
    existing = [name for name in files if (folder / name).exists()]
    if existing and not force:
        raise InputError(
            f"DIR: {folder} already holds {', '.join(existing[:3])}{' …' if len(existing) > 3 else ''}; use --force to overwrite"
        )
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in files.items():
        write_atomic(folder / name, lambda f, data=data: f.write(data))
        written.append(folder / name)
    return written
