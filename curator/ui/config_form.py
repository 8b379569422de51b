"""Form widgets generated from a config dataclass: one widget per field, labelled and explained by the field.

`config_widgets(ScorerConfig, prefix)` draws a checkbox, number box, choice or text box per field
(type, default, ``metadata["help"]``, ``metadata["choices"]``, ``metadata["min"]``), each keyed
``prefix + field``; `config_from_state` builds the config back from those keys. The page copies no
default and no help text.
"""

from __future__ import annotations

import typing
from dataclasses import MISSING, fields
from typing import Any

import streamlit as st


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _default(f: Any) -> Any:
    return f.default if f.default is not MISSING else f.default_factory()


def _is_tuple(kind: Any) -> bool:
    return typing.get_origin(kind) is tuple


def _base(kind: Any) -> Any:
    """`X` for ``X | None``, else the type itself."""
    args = typing.get_args(kind)
    return next(a for a in args if a is not type(None)) if type(None) in args else kind


def config_widgets(cls: type, prefix: str, *, columns: int = 4) -> None:
    """Draw one widget per field of dataclass `cls`, keyed ``prefix + name``, seeded with the field defaults."""
    hints = typing.get_type_hints(cls)
    cols = st.columns(columns)
    for i, f in enumerate(fields(cls)):
        key, kind, meta, default = prefix + f.name, hints[f.name], f.metadata, _default(f)
        base = _base(kind)
        col = cols[i % columns]
        if base is bool:
            st.session_state.setdefault(key, bool(default))
            col.checkbox(_label(f.name), key=key, help=meta["help"])
        elif meta.get("choices"):
            st.session_state.setdefault(key, default)
            col.selectbox(_label(f.name), list(meta["choices"]), key=key, help=meta["help"],
                          format_func=lambda v: "none" if v is None else str(v))
        elif base is int:
            st.session_state.setdefault(key, int(default))
            col.number_input(_label(f.name), min_value=meta.get("min"), step=1, key=key, help=meta["help"])
        elif _is_tuple(base):
            st.session_state.setdefault(key, ", ".join(default))
            col.text_input(_label(f.name), key=key, help=meta["help"], placeholder="comma-separated")
        else:
            st.session_state.setdefault(key, "" if default is None else str(default))
            col.text_input(_label(f.name), key=key, help=meta["help"])


def config_from_state(cls: type, prefix: str) -> Any:
    """The config the widgets of `config_widgets` hold (fields without a widget value keep their default)."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):
        key = prefix + f.name
        if key not in st.session_state:
            continue
        value = st.session_state[key]
        if _is_tuple(_base(hints[f.name])):
            value = tuple(v for v in str(value or "").replace(",", " ").split() if v)
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        values[f.name] = value
    return cls(**values)
