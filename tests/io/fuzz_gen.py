"""Cheap generators for the reader fuzz tests, driven by hypothesis through one seed per case.

Hypothesis spends about a millisecond per drawn value on 2 shared cores, and a fuzz case of a
reader needs dozens of values (texts, metadata, votes, faults): 10,000 cases per reader would take
minutes each. Here hypothesis draws one integer per case (derandomized, so CI sees the same cases
every run) and these small generators, with the same names as `hypothesis.strategies`, build the
case from it with `random.Random`: about 50 microseconds a case. A failing case is printed whole.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from random import Random
from typing import Any

from hypothesis import strategies as st


class Gen:
    """A generator: `gen(rng)` makes one value."""

    def __init__(self, fn: Callable[[Random], Any]):
        self.fn = fn

    def __call__(self, rng: Random) -> Any:
        return self.fn(rng)

    def map(self, f: Callable[[Any], Any]) -> Gen:
        return Gen(lambda r: f(self.fn(r)))

    def filter(self, pred: Callable[[Any], bool]) -> Gen:
        def run(r: Random) -> Any:
            for _ in range(1000):
                value = self.fn(r)
                if pred(value):
                    return value
            raise RuntimeError("filter rejected 1000 values in a row")

        return Gen(run)

    def __or__(self, other: Gen) -> Gen:
        return one_of(self, other)


def as_strategy(gen: Gen) -> st.SearchStrategy[Any]:
    """The hypothesis strategy of `gen`: one seed per case."""
    return st.integers(0, 2**64 - 1).map(lambda seed: gen(Random(seed)))


def composite(fn: Callable[..., Any]) -> Callable[..., Gen]:
    """Like `st.composite`: ``fn(draw, *args)`` draws from Gens."""

    def make(*args: Any, **kwargs: Any) -> Gen:
        return Gen(lambda r: fn(lambda gen: gen(r), *args, **kwargs))

    return make


def just(value: Any) -> Gen:
    return Gen(lambda r: value)


def none() -> Gen:
    return just(None)


def booleans() -> Gen:
    return Gen(lambda r: r.random() < 0.5)


_EDGE_INTS = (0, 1, -1, 2, 255, 256, 2**31 - 1, -(2**31), 2**53 + 1, 2**63 - 1, -(2**63))


def integers(min_value: int | None = None, max_value: int | None = None) -> Gen:
    if min_value is not None and max_value is not None:
        return Gen(lambda r: r.randint(min_value, max_value))
    lo = -(2**63) if min_value is None else min_value
    hi = 2**63 - 1 if max_value is None else max_value
    edges = [v for v in _EDGE_INTS if lo <= v <= hi]
    return Gen(lambda r: edges[r.randrange(len(edges))] if r.random() < 0.3 else r.randint(max(lo, -1000), min(hi, 10**6)))


def floats(min_value: float | None = None, max_value: float | None = None, *, allow_nan: bool = True,
           allow_infinity: bool | None = None) -> Gen:
    bounded = min_value is not None and max_value is not None
    if allow_infinity is None:
        allow_infinity = not bounded
    edges = [0.0, -0.0, 0.5, 1.5, 1e-308, 5e-324, 1.7976931348623157e308, -1e300, 1 / 3]
    if allow_infinity:
        edges += [math.inf, -math.inf]
    if allow_nan:
        edges.append(math.nan)
    if bounded:
        edges = [v for v in edges if min_value <= v <= max_value] + [min_value, max_value]

    def run(r: Random) -> float:
        if r.random() < 0.3:
            return edges[r.randrange(len(edges))]
        if bounded:
            return r.uniform(min_value, max_value)
        return r.choice((r.uniform(-1e6, 1e6), r.randint(-100, 100) / 4, r.random()))

    return Gen(run)


def sampled_from(values: Iterable[Any]) -> Gen:
    seq = tuple(values)
    return Gen(lambda r: seq[r.randrange(len(seq))])


def one_of(*gens: Gen) -> Gen:
    return Gen(lambda r: gens[r.randrange(len(gens))](r))


def tuples(*gens: Gen) -> Gen:
    return Gen(lambda r: tuple(g(r) for g in gens))


def _size(r: Random, min_size: int, max_size: int) -> int:
    # small sizes are the common case, as in hypothesis
    return min(max_size, min_size + int(r.expovariate(1.0) * 1.5))


def lists(elements: Gen, *, min_size: int = 0, max_size: int = 5, unique: bool = False) -> Gen:
    def run(r: Random) -> list[Any]:
        out = [elements(r) for _ in range(_size(r, min_size, max_size))]
        if unique:
            out = list(dict.fromkeys(out))
        return out

    return Gen(run)


def dictionaries(keys: Gen, values: Gen, *, max_size: int = 3) -> Gen:
    return Gen(lambda r: {keys(r): values(r) for _ in range(_size(r, 0, max_size))})


def fixed_dictionaries(required: dict[str, Gen], *, optional: dict[str, Gen] | None = None) -> Gen:
    def run(r: Random) -> dict[str, Any]:
        out = {k: g(r) for k, g in required.items()}
        for k, g in (optional or {}).items():
            if r.random() < 0.5:
                out[k] = g(r)
        return out

    return Gen(run)


# Code points by kind: ASCII, C0/C1 controls (NUL included), Latin-1, the rest of the BMP without
# surrogates, specials (BOM, bidi, zero width, line separators), astral planes.
_RANGES = ((0x20, 0x7E), (0x00, 0x1F), (0x7F, 0x9F), (0xA0, 0xFF), (0x100, 0xD7FF), (0xE000, 0xFFFD),
           (0x10000, 0x10FFFF))
_SPECIAL = "\ufeff\u202e\u202d\u200b\u200d\u2028\u2029\ufffd\u0300\u0000"


def _char(r: Random, exclude: str = "") -> str:
    while True:
        if r.random() < 0.1:
            c = _SPECIAL[r.randrange(len(_SPECIAL))]
        else:
            lo, hi = _RANGES[0] if r.random() < 0.5 else _RANGES[r.randrange(len(_RANGES))]
            c = chr(r.randint(lo, hi))
        if c not in exclude:
            return c


def characters(*, exclude_characters: str = "") -> Gen:
    return Gen(lambda r: _char(r, exclude_characters))


def text(alphabet: str | Gen | None = None, *, max_size: int = 6) -> Gen:
    if isinstance(alphabet, str):
        chars = alphabet
        return Gen(lambda r: "".join(chars[r.randrange(len(chars))] for _ in range(_size(r, 0, max_size))))
    pick = alphabet if alphabet is not None else characters()
    return Gen(lambda r: "".join(pick(r) for _ in range(_size(r, 0, max_size))))


def binary(*, max_size: int = 64) -> Gen:
    return Gen(lambda r: bytes(r.randrange(256) for _ in range(r.randint(0, max_size))))


def permutations(values: Sequence[Any]) -> Gen:
    def run(r: Random) -> list[Any]:
        out = list(values)
        r.shuffle(out)
        return out

    return Gen(run)


def recursive(base: Gen, extend: Callable[[Gen], Gen], *, max_leaves: int = 6) -> Gen:
    """Values of `base`, or containers of them (nested at most 3 deep)."""
    levels = [base]
    for _ in range(3):
        levels.append(one_of(base, extend(levels[-1])))
    return levels[-1]
