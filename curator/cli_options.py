"""Typer options generated from a config dataclass: its fields' types, defaults and ``metadata["help"]``.

``@config_options(ScorerConfig, into="scorer")`` adds one ``--field-name`` option per field to a
command and hands the command one ``scorer: ScorerConfig`` built from them, so the CLI copies no
default and no help text. Bools become ``--x/--no-x``; ``metadata["choices"]`` a choice; tuples of
strings a comma-separated list; ``metadata["min"]`` a lower bound.
"""

from __future__ import annotations

import enum
import inspect
import typing
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Annotated, Any

import typer


def _option(name: str, kind: Any, default: Any, meta: Any, panel: str) -> tuple[Any, Any]:
    """(annotation, default) of one generated option."""
    flag = "--" + name.replace("_", "-")
    help_text = meta["help"]
    choices = meta.get("choices")
    args = typing.get_args(kind)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), kind) if optional else kind
    if base is bool:
        return Annotated[bool, typer.Option(f"{flag}/--no-{flag[2:]}", help=help_text, rich_help_panel=panel)], default
    if typing.get_origin(base) is tuple:
        return (Annotated[str | None, typer.Option(flag, help=help_text + " (comma-separated)", metavar="A,B",
                                                   rich_help_panel=panel)],
                ",".join(default) or None)
    if choices:
        choice = enum.StrEnum("".join(w.title() for w in name.split("_")), {c: c for c in choices if c is not None})
        return (Annotated[choice | None if optional else choice,  # type: ignore[valid-type]
                          typer.Option(flag, help=help_text, rich_help_panel=panel)],
                None if default is None else choice(default))
    extra = {"min": meta["min"]} if "min" in meta else {}
    return Annotated[base | None if optional else base, typer.Option(flag, help=help_text, rich_help_panel=panel,
                                                                     **extra)], default


def config_options(cls: type, *, into: str, panel: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a typer command: one option per field of dataclass `cls`, passed as ``into=cls(...)``.

    The command declares ``into`` as a keyword parameter (its annotation is replaced).
    """
    hints = typing.get_type_hints(cls)
    specs = []
    for f in fields(cls):
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        specs.append((f.name, *_option(f.name, hints[f.name], default, f.metadata, panel or cls.__name__)))

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(fn, eval_str=True)
        if into not in sig.parameters:
            raise TypeError(f"{fn.__name__} must take a `{into}` parameter for the {cls.__name__} options.")
        names = {f.name for f in fields(cls)}
        clash = names & set(sig.parameters)
        if clash:
            raise TypeError(f"{fn.__name__} already has parameters {sorted(clash)} of {cls.__name__}.")
        own = [p for p in sig.parameters.values() if p.name != into]
        extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
                 for name, annotation, default in specs]

        def command(**kwargs: Any) -> Any:
            knobs = {name: (v.value if isinstance(v := kwargs.pop(name), enum.Enum) else v) for name in names}
            # An option left unset (None) keeps the field's default.
            try:
                kwargs[into] = cls.from_dict({k: v for k, v in knobs.items() if v is not None})  # type: ignore[attr-defined]
            except (ValueError, TypeError) as e:
                raise typer.BadParameter(str(e)) from None
            return fn(**kwargs)

        command.__name__, command.__doc__, command.__module__ = fn.__name__, fn.__doc__, fn.__module__
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + extra
        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return decorate
