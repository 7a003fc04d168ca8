"""A tiny name → factory registry shared by every kind of backend, with add-ons from entry points.

Factories are callables or "module:Class" strings; strings are imported on first use so that
listing backends never imports heavy SDKs or models. Unknown names fail with the known list.

Add-ons arrive the way simonw/llm's plugins do: an installed distribution declares an entry
point in the registry's group, named after the backend, e.g. in its pyproject.toml

    [project.entry-points."promptrag.enhancers"]
    shout = "promptrag_shout:ShoutEnhancer"

The group is read once, on the first lookup (`names`, `get`, `factory`), never at import; the
add-on's module is imported only when its backend is asked for. An add-on that fails to import
is reported by name (`problems`, and a ConfigError naming it and its distribution when asked
for); it never breaks the other backends. A name already taken (a built-in) is kept, and the
add-on that wanted it is reported.

Deliberately not here: readiness checks (each backend class has a `status(settings)`
classmethod; core/status.py collects them) and any add-on's own options.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar, cast

from core.errors import ConfigError, one_line

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._factories: dict[str, Callable[..., T] | str | EntryPoint] = {}
        self._addons_read = entry_point_group is None
        # add-on name → why it is not usable (failed to import, or its name was taken)
        self.problems: dict[str, str] = {}

    def register(self, name: str, factory: Callable[..., T] | str) -> None:
        self._factories[name] = factory

    def names(self) -> list[str]:
        self._read_addons()
        return sorted(self._factories)

    def factory(self, name: str) -> Callable[..., T]:
        """The class (or factory function) registered as `name`, imported now; ConfigError if unknown
        or if the add-on that provides it fails to import."""
        self._read_addons()
        try:
            factory = self._factories[name]
        except KeyError:
            known = ", ".join(self.names())
            raise ConfigError(f"unknown {self.kind} {name!r}; known {self.kind}s: {known}") from None
        if isinstance(factory, str):
            module_name, _, attr = factory.partition(":")
            return getattr(importlib.import_module(module_name), attr)
        if isinstance(factory, EntryPoint):
            return self._load_addon(name, factory)
        return factory

    def get(self, name: str, **options: Any) -> T:
        return self.factory(name)(**options)

    def discover_addons(self) -> None:
        """(Re)read the entry-point group: add-ons installed since the last read are registered."""
        if self.entry_point_group is None:
            return
        self._addons_read = True
        for entry in entry_points(group=self.entry_point_group):
            current = self._factories.get(entry.name)
            if current is None or isinstance(current, EntryPoint):
                self._factories[entry.name] = entry
            elif current != entry.value:  # a built-in declared again by its own package is no clash
                self.problems[entry.name] = (f"add-on {self.kind} {entry.name!r} from {_origin(entry)} not "
                                             f"registered: the name is taken by {current!r}; rename its entry point")

    def _read_addons(self) -> None:
        if not self._addons_read:
            self.discover_addons()

    def _load_addon(self, name: str, entry: EntryPoint) -> Callable[..., T]:
        try:
            loaded = entry.load()
        except Exception as exc:  # any failure of someone else's package: reported, never fatal to the rest
            why = f"{type(exc).__name__}: {one_line(exc, 200)}"
            self.problems[name] = why
            raise ConfigError(f"add-on {self.kind} {name!r} ({entry.value} from {_origin(entry)}) failed to "
                              f"load ({why}); reinstall or uninstall that package") from None
        if not callable(loaded):
            self.problems[name] = f"{entry.value} is not a class or factory"
            raise ConfigError(f"add-on {self.kind} {name!r} from {_origin(entry)} names {entry.value}, which is "
                              "not a class or factory; fix its entry point")
        self.problems.pop(name, None)
        return cast(Callable[..., T], loaded)


def _origin(entry: EntryPoint) -> str:
    dist = entry.dist
    return f"the {dist.name} {dist.version} package" if dist is not None else "an installed package"
