"""Typer options generated from a config dataclass (`curator.config.Config`): its fields' types, defaults and help.

``@config_options(ScorerConfig, into="scorer")`` adds one ``--field-name`` option per field to a
command and hands the command one ``scorer: ScorerConfig`` built from them, so the CLI copies no
default and no help text. Bools become ``--x/--no-x``; ``metadata["choices"]`` a choice; tuples a
repeatable option whose values may also be comma-separated; ``metadata["min"]``/``["max"]`` bounds;
``metadata["aliases"]`` extra flags (``("--lr",)``). A command parameter named like a field asks for
that field its own way (a positional argument, say); its value goes into the config too.
"""

from __future__ import annotations

import enum
import inspect
import typing
from collections.abc import Callable, Iterable
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any

import typer

from curator.config import base_type, field_default, has_default, type_hints


def _decls(name: str, meta: Any, *, boolean: bool) -> list[str]:
    flags = ["--" + name.replace("_", "-"), *meta.get("aliases", ())]
    return [f"{f}/--no-{f[2:]}" for f in flags] if boolean else flags


def _option(name: str, kind: Any, default: Any, meta: Any, panel: str) -> tuple[Any, Any]:
    """(annotation, default) of one generated option; None as the default means "the field's own"."""
    help_text = meta["help"] + (f" [default: {_shown(default)}]" if default not in (None, (), "") else "")
    base = base_type(kind)
    opts: dict[str, Any] = {"help": help_text, "rich_help_panel": panel, "show_default": False}
    if base is bool:
        return Annotated[bool | None, typer.Option(*_decls(name, meta, boolean=True), **opts)], None
    if typing.get_origin(base) is tuple:
        item = typing.get_args(base)[0]
        return (Annotated[list[str] | None, typer.Option(*_decls(name, meta, boolean=False), metavar=item.__name__.upper(),
                                                         **{**opts, "help": help_text + " Repeatable; commas split."})],
                None)
    if meta.get("choices"):
        choice = enum.StrEnum("".join(w.title() for w in name.split("_")), {c: c for c in meta["choices"] if c is not None})
        return Annotated[choice | None, typer.Option(*_decls(name, meta, boolean=False), **opts)], None  # type: ignore[valid-type]
    bounds = {k: meta[k] for k in ("min", "max") if k in meta}
    return Annotated[base | None, typer.Option(*_decls(name, meta, boolean=False), **opts, **bounds)], None


def _shown(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _parse(kind: Any, value: Any) -> Any:
    """A typer value as the field wants it (enum members to str, repeated/comma-separated items to a tuple)."""
    if isinstance(value, enum.Enum):
        return value.value
    base = base_type(kind)
    if typing.get_origin(base) is tuple and isinstance(value, list):
        item = typing.get_args(base)[0]
        return tuple(item(v) for text in value for v in str(text).split(",") if v.strip())
    return value


def config_options(cls: type, *, into: str, panel: str | None = None,
                   exclude: Iterable[str] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a typer command: one option per field of dataclass `cls`, passed as ``into=cls(...)``.

    The command declares ``into`` as a keyword parameter (its annotation is replaced). Fields in
    `exclude` get no option and keep their default; a bad value is a `typer.BadParameter`.
    """
    hints = type_hints(cls)
    skip = set(exclude)

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(fn, eval_str=True)
        if into not in sig.parameters:
            raise TypeError(f"{fn.__name__} must take a `{into}` parameter for the {cls.__name__} options.")
        own = [p for p in sig.parameters.values() if p.name != into]
        asked = {p.name for p in own} & {f.name for f in fields(cls)}  # fields the command asks its own way
        generated = [f for f in fields(cls) if f.name not in skip | asked]
        extra = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a)
                 for f in generated
                 for a, d in [_option(f.name, hints[f.name], field_default(f) if has_default(f) else None,
                                      f.metadata, panel or cls.__name__)]]

        def command(**kwargs: Any) -> Any:
            knobs = {f.name: _parse(hints[f.name], kwargs.pop(f.name)) for f in generated}
            knobs |= {name: str(v) if isinstance(v := kwargs[name], Path) else v for name in asked}
            try:  # an option left unset (None) keeps the field's default
                kwargs[into] = cls.from_dict({k: v for k, v in knobs.items() if v is not None})
            except (ValueError, TypeError) as e:
                raise typer.BadParameter(str(e)) from None
            return fn(**kwargs)

        command.__name__, command.__doc__, command.__module__ = fn.__name__, fn.__doc__, fn.__module__
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + extra
        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return decorate
