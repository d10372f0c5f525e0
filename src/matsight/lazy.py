"""Package names imported on first use (PEP 562), so that importing a package loads no heavy library."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], object]:
    """The ``__getattr__`` of ``package`` whose name ``n`` lives in the submodule ``homes[n]`` (relative
    to the package), imported when ``n`` is first read; any other name is an :class:`AttributeError`."""

    def __getattr__(name: str) -> object:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{homes[name]}"), name)

    return __getattr__
