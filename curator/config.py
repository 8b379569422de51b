"""`Config`: the base of every config dataclass, the one place its knobs are described.

A config is a dataclass whose fields carry ``metadata["help"]`` (and optionally ``"choices"``,
``"min"``, ``"max"``, ``"label"``). From those fields alone:

- `Config.from_dict` / `Config.to_dict` round-trip it through plain JSON-able data: unknown keys
  are an error naming the valid ones, lists become tuples, nested configs come from dicts;
- `curator.cli_options.config_options` generates the typer options of a command;
- `curator.ui.config_form.config_widgets` generates the Streamlit form widgets of a page.

So a default or a help text is written once, here, and the CLI and the page follow it. Pure: stdlib only.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from dataclasses import MISSING, fields
from typing import Any, Self


class Config:
    """Mixin for config dataclasses: plain-dict round trip, help texts and defaults from the fields.

    >>> from dataclasses import dataclass, field
    >>> @dataclass(frozen=True)
    ... class Demo(Config):
    ...     names: tuple[str, ...] = field(default=(), metadata={"help": "Names."})
    >>> Demo.from_dict({"names": ["a", "b"]})
    Demo(names=('a', 'b'))
    >>> Demo.from_dict({"nmes": []})
    Traceback (most recent call last):
    ...
    ValueError: Demo has no field(s) ['nmes']; valid: ['names'].
    """

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Self:
        """Inverse of `to_dict` (None or {} give the defaults)."""
        return from_dict(cls, data or {})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict: tuples become lists, nested configs dicts."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]

    @classmethod
    def help(cls) -> dict[str, str]:
        """``{field: help text}``."""
        return {f.name: f.metadata["help"] for f in fields(cls)}  # type: ignore[arg-type]

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """``{field: default}`` (fields without a default are left out)."""
        return {f.name: field_default(f) for f in fields(cls) if has_default(f)}  # type: ignore[arg-type]


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """``cls(**data)`` for a dataclass, after checking the keys and converting lists and nested configs."""
    hints = type_hints(cls)
    valid = [f.name for f in fields(cls) if f.init]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ValueError(f"{cls.__name__} has no field(s) {unknown}; valid: {valid}.")
    return cls(**{k: _coerce(hints[k], v) for k, v in data.items()})


def has_default(f: dataclasses.Field) -> bool:
    return f.default is not MISSING or f.default_factory is not MISSING


def field_default(f: dataclasses.Field) -> Any:
    return f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]


@functools.cache
def type_hints(cls: type) -> dict[str, Any]:
    """The resolved field types of `cls` (its annotations are strings under ``from __future__``)."""
    return typing.get_type_hints(cls)


def base_type(kind: Any) -> Any:
    """`X` for ``X | None``, else the type itself."""
    args = typing.get_args(kind)
    return next(a for a in args if a is not type(None)) if type(None) in args else kind


def _coerce(kind: Any, value: Any) -> Any:
    base = base_type(kind)
    if isinstance(value, list) and typing.get_origin(base) is tuple:
        return tuple(value)
    if isinstance(value, dict) and isinstance(base, type) and issubclass(base, Config):
        return base.from_dict(value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Config):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
