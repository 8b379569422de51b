"""Form widgets generated from a config dataclass (`curator.config.Config`): one widget per field.

`config_widgets(SignalConfig, prefix)` draws a checkbox, number box, choice or text box per field
(type, default, ``metadata["help"]``, ``["label"]``, ``["choices"]``, ``["min"]``, ``["max"]``),
each keyed ``prefix + field``; `config_from_state` builds the config back from those keys. The page
copies no default and no help text. Nested configs get no widget (draw them with their own prefix).
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from dataclasses import fields
from typing import Any

import streamlit as st

from curator.config import Config, base_type, field_default, has_default, type_hints


def _label(f: Any) -> str:
    return f.metadata.get("label") or f.name.replace("_", " ").capitalize()


def _is_tuple(kind: Any) -> bool:
    return typing.get_origin(kind) is tuple


def _nested(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, Config)


def widget_fields(cls: type, *, only: Iterable[str] | None = None, exclude: Iterable[str] = ()) -> list[Any]:
    """The fields `config_widgets` draws: `only` (in that order) or all, less `exclude` and nested configs."""
    hints, skip = type_hints(cls), set(exclude)
    by_name = {f.name: f for f in fields(cls)}
    chosen = [by_name[n] for n in only] if only is not None else list(by_name.values())
    return [f for f in chosen if f.name not in skip and not _nested(base_type(hints[f.name]))]


def config_widgets(cls: type, prefix: str, *, only: Iterable[str] | None = None, exclude: Iterable[str] = (),
                   columns: int = 4) -> None:
    """Draw one widget per field of dataclass `cls`, keyed ``prefix + name``, seeded with the field defaults."""
    hints = type_hints(cls)
    cols = st.columns(columns)
    for i, f in enumerate(widget_fields(cls, only=only, exclude=exclude)):
        key, meta = prefix + f.name, f.metadata
        default = field_default(f) if has_default(f) else None
        base, optional = base_type(hints[f.name]), type(None) in typing.get_args(hints[f.name])
        col, label, help_text = cols[i % columns], _label(f), meta["help"]
        if base is bool:
            st.session_state.setdefault(key, bool(default))
            col.checkbox(label, key=key, help=help_text)
        elif meta.get("choices"):
            st.session_state.setdefault(key, default)
            col.selectbox(label, list(meta["choices"]), key=key, help=help_text,
                          format_func=lambda v: "none" if v is None else str(v))
        elif base in (int, float):
            st.session_state.setdefault(key, None if default is None else base(default))
            step = 1 if base is int else None
            col.number_input(label, min_value=meta.get("min"), max_value=meta.get("max"), step=step, key=key,
                             help=help_text, placeholder="none" if optional else None,
                             format=None if base is int else "%g")
        elif _is_tuple(base):
            st.session_state.setdefault(key, ", ".join(map(str, default or ())))
            col.text_input(label, key=key, help=help_text, placeholder="comma-separated")
        else:
            st.session_state.setdefault(key, "" if default is None else str(default))
            col.text_input(label, key=key, help=help_text, placeholder="none" if optional else None)


def config_values(cls: type, prefix: str) -> dict[str, Any]:
    """``{field: value}`` of the widgets `config_widgets` drew (fields without a widget are left out)."""
    hints = type_hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):
        key = prefix + f.name
        if key not in st.session_state:
            continue
        value, base = st.session_state[key], base_type(hints[f.name])
        optional = type(None) in typing.get_args(hints[f.name])
        if _is_tuple(base):
            item = typing.get_args(base)[0]
            value = tuple(dict.fromkeys(item(v) for v in str(value or "").replace(",", " ").split() if v))
        elif base is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        elif base is str:
            value = (value or "").strip() or (None if optional else field_default(f) if has_default(f) else "")
        values[f.name] = value
    return values


def config_from_state(cls: type, prefix: str, **overrides: Any) -> Any:
    """The config the widgets of `config_widgets` hold; fields without a widget keep their default."""
    return cls.from_dict({**config_values(cls, prefix), **overrides})
