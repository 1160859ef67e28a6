"""Load the catalog's data files and refuse a malformed one with a precise message.

Every error names the file, the entry (its ``id`` where it has one) and what is wrong,
so whoever edits a data file by hand can find the mistake without a traceback.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import yaml

from amisys.catalog.model import (
    ActorsFile,
    CrossCuttingFile,
    InterfacesFile,
    MessagesFile,
    ProcessesFile,
    ResolutionsFile,
    SubfunctionsFile,
)

T = TypeVar("T")

DATA_FILES: dict[str, type] = {
    "actors.yaml": ActorsFile,
    "interfaces.yaml": InterfacesFile,
    "processes.yaml": ProcessesFile,
    "crosscutting.yaml": CrossCuttingFile,
    "resolutions.yaml": ResolutionsFile,
    "messages.yaml": MessagesFile,
    "subfunctions.yaml": SubfunctionsFile,
}
_PATH_STEP = re.compile(r"\.([A-Za-z_]\w*)|\[(\d+)\]")


class CatalogDataError(ValueError):
    """A data file of the catalog is malformed or inconsistent."""

    def __init__(self, file: str, entry: str, problem: str) -> None:
        super().__init__(f"catalog data error in {file}, entry {entry}: {problem}")
        self.file = file
        self.entry = entry
        self.problem = problem


def default_data_dir() -> Path:
    return Path(str(resources.files("amisys.catalog") / "data"))


def read_file(path: Path, kind: type[T]) -> T:
    name = path.name
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogDataError(name, "(file)", f"file not found at {path}") from None
    except yaml.YAMLError as exc:
        raise CatalogDataError(name, "(file)", f"not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise CatalogDataError(name, "(file)", f"expected a mapping at the top, got {type(raw).__name__}")
    try:
        return msgspec.convert(raw, kind, strict=True)
    except msgspec.ValidationError as exc:
        message = str(exc)
        path_text = message.rsplit(" - at `", 1)[1].rstrip("`") if " - at `" in message else "$"
        problem = message.split(" - at `", 1)[0]
        raise CatalogDataError(name, describe_entry(raw, path_text), problem) from None


def describe_entry(raw: Any, path_text: str) -> str:
    """``$.tables[3].flows[1].c`` -> ``tables[3].flows[1] (3.2.1-r2), field c`` using ids found on the way."""
    node = raw
    shown = ""
    last_id = None
    field = None
    for name, index in _PATH_STEP.findall(path_text):
        if name:
            field = name
            shown += ("." if shown else "") + name
            node = node.get(name) if isinstance(node, dict) else None
        else:
            field = None
            shown += f"[{index}]"
            node = node[int(index)] if isinstance(node, list) and int(index) < len(node) else None
        if isinstance(node, dict) and "id" in node:
            last_id = node["id"]
    if field is not None:
        shown = shown.rsplit(".", 1)[0] if "." in shown else shown
    text = shown or "(top)"
    if last_id is not None:
        text += f" ({last_id})"
    if field is not None:
        text += f", field {field}"
    return text
