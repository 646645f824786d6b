"""The one registry pattern: a name -> class (or spec) table for one kind of plugin, checked on entry.

Detector plugins (`detectors.DETECTOR_PLUGINS`), generators (`generation.GENERATORS`), source adapters
(`sources.SOURCE_ADAPTERS`) and prompt backends (`prompts.backends.PROMPT_BACKENDS`) are each one
`Registry`: adding one is one module plus one `register` line (or one entry in the table's literal).
An entry must be a subclass (or an instance, for spec tables) of the registry's base type, so a typo
or a wrong object fails at import with the registry's name, not later in a run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownName(KeyError, ValueError):
    """A name that is not registered; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry(Mapping[str, T], Generic[T]):
    """`kind` names the table in messages ("detector plugin"); `base` is what every entry must be."""

    def __init__(self, kind: str, base: type, entries: Mapping[str, T] | Iterable[tuple[str, T]] = ()) -> None:
        self.kind = kind
        self.base = base
        self._entries: dict[str, T] = {}
        for name, entry in dict(entries).items():
            self.register(name, entry)

    def register(self, name: str, entry: T) -> T:
        ok = issubclass(entry, self.base) if isinstance(entry, type) else isinstance(entry, self.base)
        if not ok:
            raise TypeError(f"{self.kind} '{name}': {entry!r} is not a {self.base.__name__}")
        if name in self._entries and self._entries[name] is not entry:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = entry
        return entry

    def add(self, name: str) -> Callable[[T], T]:
        """Decorator form of `register`."""
        return lambda entry: self.register(name, entry)

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownName(f"unknown {self.kind} '{name}' (known: {', '.join(self._entries)})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"
