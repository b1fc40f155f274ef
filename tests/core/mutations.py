"""Hypothesis strategies of hostile files: a real record or expectations file with one or a few things broken."""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

# A fixed budget per property, a few seconds each on a 2-core CI machine; no deadline (the machine is shared).
FUZZ = settings(max_examples=int(os.environ.get("NETMEM_FUZZ_EXAMPLES", "40")), deadline=None, database=None)

DEEP_JSON = "[" * 3000 + "]" * 3000

hostile_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e30, -1.0, 0.5, 2**63, -(2**63) - 1, 10**30]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=8),
    st.sampled_from(["\udcff", "a\nb\x1b[2J", "\u202eevil", "", "OK", "ok"]),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.recursive(st.integers(), lambda inner: st.lists(inner, min_size=1, max_size=1), max_leaves=40),
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in `doc` a value sits, with long columns cut to their first and last few items."""
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        index = list(range(len(doc)))
        for i in index[:3] + index[3:][-2:]:
            out += _paths(doc[i], (*prefix, i))
    return out


numbers = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 1, 2**63 - 1, 1e18, 1e-300, 0.5]),
)


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _apply(doc: Any, path: tuple[Any, ...], action: str, value: Any) -> None:
    *parents, last = path
    target = doc
    for key in parents:
        target = target[key]
    if action == "delete":
        del target[last]
    elif action == "insert" and isinstance(target, list):
        target.insert(last, value)
    else:
        target[last] = value


@st.composite
def mutated_json(draw: st.DrawFn, base: dict[str, Any]) -> str:
    """`base` with 1-3 values replaced, deleted or inserted, as JSON text (NaN and Infinity as Python writes
    them); sometimes the text itself is cut short, given a bad byte, or replaced by something deep or huge."""
    doc = copy.deepcopy(base)
    paths = _paths(doc)
    # Half the time only numbers change, to numbers: records that may well load, with figures no run measured.
    numeric = draw(st.booleans())
    if numeric:
        paths = [p for p in paths if type(_get(doc, p)) in (int, float)]
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        action = "replace" if numeric else draw(st.sampled_from(["replace", "replace", "delete", "insert"]))
        try:
            _apply(doc, path, action, draw(numbers if numeric else hostile_values))
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed or replaced this place
    text = json.dumps(doc, allow_nan=True)
    how = "as is" if numeric else draw(st.sampled_from(["as is"] * 6 + ["cut", "byte", "deep", "columns"]))
    if how == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    elif how == "byte":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(["\x00", "\ufeff", "\udcff", "}", "]", ",", "\\"])) + text[at:]
    elif how == "deep":
        text = text.replace('"label": null', f'"label": {DEEP_JSON}', 1) if '"label": null' in text else DEEP_JSON
    elif how == "columns":
        cols = doc.get("samples") if isinstance(doc.get("samples"), dict) else None
        if cols and isinstance(cols.get("t_s"), list):
            cols["t_s"] = list(reversed(cols["t_s"])) + draw(st.lists(hostile_values, max_size=2))
        text = json.dumps(doc, allow_nan=True)
    return text


TOML_LITERALS = ["nan", "inf", "-inf", "1e400", "-1", "0", "99999999999999999999999", '"ok"', '"OK"', "true",
                 '"1 MB"', '"12 %"', '"lots"', "[1, 2]", "{ a = 1 }", "[" * 300 + "]" * 300, '"\\u0007\\u001b"',
                 '"\\uD800"', "''", '"-5 KB"', "1979-05-27T07:32:00Z"]


@st.composite
def mutated_toml(draw: st.DrawFn, base: str) -> str:
    """`base` (TOML) with 1-3 lines' values replaced by hostile literals, lines dropped, or the text cut."""
    lines = base.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["value", "value", "value", "drop", "dup"]))
        if how == "value" and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            literal = draw(st.one_of(st.sampled_from(TOML_LITERALS), st.text(max_size=6).map(json.dumps)))
            lines[i] = f"{key}= {literal}"
        elif how == "drop":
            del lines[i]
        elif how == "dup":
            lines.insert(i, lines[i])
        if not lines:
            break
    text = "\n".join(lines) + "\n"
    if draw(st.integers(0, 9)) == 0:
        text = text[: draw(st.integers(0, len(text)))]
    return text
