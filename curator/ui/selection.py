"""Chart and table selections -> pair ids / cluster ids. Pure functions, no streamlit calls.

AppTest cannot simulate a Plotly box or lasso selection, so the pages hand the selection state
(`event.selection` of ``st.plotly_chart(on_select="rerun")``) to these functions, which the tests
call directly. Charts put the pair id in each point's ``customdata``: a point's index is relative
to its trace, and a chart coloured by category has one trace per category.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def selected_pair_ids(selection: Mapping[str, Any] | None) -> list[str]:
    """Pair ids of the selected points, in selection order, without duplicates.

    Args:
        selection: a Plotly selection state with ``points``, each point a mapping whose
            ``customdata`` is the pair id or a list that starts with it. None or empty: nothing.

    >>> selected_pair_ids({"points": [{"customdata": "p1"}, {"customdata": ["p2", 0.4]}, {"customdata": "p1"}]})
    ['p1', 'p2']
    >>> selected_pair_ids(None)
    []
    """
    if not selection:
        return []
    ids: list[str] = []
    for point in selection.get("points") or ():
        value = point.get("customdata") if isinstance(point, Mapping) else None
        if isinstance(value, list | tuple):
            value = value[0] if value else None
        if value is not None and value != "":
            ids.append(str(value))
    return list(dict.fromkeys(ids))


def selected_rows(table_state: Mapping[str, Any] | None) -> list[int]:
    """Row positions of an ``st.dataframe(on_select=...)`` state (``{"selection": {"rows": [...]}}``).

    >>> selected_rows({"selection": {"rows": [2, 0], "columns": [], "cells": []}})
    [2, 0]
    """
    if not table_state:
        return []
    selection = table_state.get("selection") or {}
    return [int(r) for r in (selection.get("rows") or ())]


def selected_values(rows: Sequence[int], values: Sequence[Any]) -> list[Any]:
    """The values at the selected row positions, ignoring positions past the end (a stale selection).

    >>> selected_values([1, 5], [10, 11, 12])
    [11]
    """
    return [values[r] for r in rows if 0 <= r < len(values)]
