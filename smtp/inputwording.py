"""The one wording engine for the user's files: pydantic's findings as ``key: what was
expected, got what``.

Given one error from ``ValidationError.errors()`` and the root model it was raised
against, :func:`describe` walks the model along the error's location to name the key
the way a file's author wrote it (``device.config.features.pipelinning``,
``scenario.reproduces[0].profiles[1]``) and says what was expected there, from the
field's type and description. Sections are named as sections (``[job]: missing
section``). A scenario file (``scenarios.format``) and a device configuration
(:mod:`smtp.config`) are worded by this engine, so the same mistake reads the same in
both.

Validators that find a problem pydantic has no words for raise one of three custom
errors made here: :func:`expected` (``key: expected <what>, got <input>``), :func:`says`
(``key: <message>``) and :func:`problems_error` (several findings below the model that
raised it, each with its own key path). :func:`toml_repr` shows a value as the ``got``
part does: TOML words, long values cut.

This module knows pydantic's error shapes and TOML's words for values; it knows nothing
about scenarios, configurations or SMTP.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from typing import Annotated, Any, Final, Literal, TypeAlias, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

DATETIME_EXAMPLE: Final = "a TOML date-time such as 2024-06-03T10:00:00Z"

KeyPath: TypeAlias = tuple[str | int, ...]
Problem: TypeAlias = tuple[KeyPath, str]
"""A problem found after the types were checked: a key path below the model, and what."""

EXPECTED: Final = "expected"
SAYS: Final = "says"
PROBLEMS: Final = "problems"


def expected(what: str) -> PydanticCustomError:
    """An error worded ``key: expected <what>, got <input>``."""
    return PydanticCustomError(EXPECTED, "expected {expected}", {"expected": what})


def says(message: str) -> PydanticCustomError:
    """An error worded ``key: <message>`` (no ``got``)."""
    return PydanticCustomError(SAYS, "{message}", {"message": message})


def problems_error(problems: Sequence[Problem]) -> PydanticCustomError:
    """Several findings below the model that raises it, each ``(key path, message)``."""
    return PydanticCustomError(PROBLEMS, "{count} problem(s)",
                               {"count": len(problems), "problems": list(problems)})


_SHOWN: Final = 60
"""Longer values are shown cut, with their length: a message stays one readable line."""


def toml_repr(value: object) -> str:
    """A value as a problem line shows it (``got ...``): TOML words, long ones cut."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        text = repr(value)
        if len(text) <= _SHOWN:
            return text
        return f"{repr(value[:_SHOWN // 2])[:-1]}...{text[-1]} ({len(value)} characters)"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = str(value)
    if isinstance(value, int) and len(text) > _SHOWN:
        return f"{text[:_SHOWN // 2]}... ({len(text.lstrip('-'))} digits)"
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}..."


def describe(err: Any, root: type[BaseModel]) -> list[str]:
    """One pydantic error as problem lines (``key: message``) against model ``root``."""
    loc: tuple[str | int, ...] = tuple(err["loc"])
    if err["type"] == PROBLEMS:
        parts = _walk(root, loc)[0]
        return [_line((*parts, *sub), message) for sub, message in err["ctx"]["problems"]]
    parts, message = describe_error(err, root)
    return [_line(parts, message)]


def _line(parts: Sequence[str | int], message: str) -> str:
    return f"{render_key(parts)}: {message}"


def render_key(parts: Sequence[str | int]) -> str:
    """A key path as a file's author writes it: ``device.config.features``,
    ``link.faults[0].n``; ``(file)`` for the whole file."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


_SECTION: Final = "section"


def describe_error(err: Any, root: type[BaseModel]) -> Problem:
    """The key path (tags dropped) and message of one error; a message of ``_SECTION``
    kind is rendered by the caller as ``[key]: ...``."""
    loc: tuple[str | int, ...] = tuple(err["loc"])
    parts, info, annotation = _walk(root, loc)
    kind: str = err["type"]
    ctx: dict[str, Any] = err.get("ctx") or {}
    got = f", got {_got(err['input'])}"
    expected = _expected_text(annotation)
    if kind == "extra_forbidden":
        if isinstance(err["input"], dict):
            return _section_parts(parts), "unknown section"
        return parts, "unknown key"
    if kind == "missing":
        if _is_section(annotation):
            return _section_parts(parts), "missing section"
        return parts, f"missing, expected {expected or 'a value'}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag_field = ctx.get("discriminator", "").strip("'")
        tags = _tags_text(annotation) or str(ctx.get("expected_tags", ""))
        if kind == "union_tag_not_found":
            return (*parts, tag_field), f"missing, expected one of {tags}"
        return (*parts, tag_field), f"expected one of {tags}, got {_got(ctx.get('tag'))}"
    if kind == EXPECTED:
        return parts, f"{err['msg']}" + ("" if isinstance(err["input"], dict) else got)
    if kind == SAYS:
        return parts, str(err["msg"])
    if kind == "literal_error":
        return parts, f"expected one of {_literal_text(annotation, ctx)}{got}"
    if kind in _BOUNDS:
        symbol, ctx_key = _BOUNDS[kind]
        number = "an integer" if _base(annotation) is int else "a number"
        return parts, f"expected {number} {symbol} {toml_repr(ctx[ctx_key])}{got}"
    if kind == "string_pattern_mismatch":
        return parts, f"expected {_description(info, annotation) or 'a valid value'}{got}"
    if kind == "string_too_short":
        return parts, f"expected a non-empty string{got}"
    if kind == "too_short":
        return parts, f"expected at least {ctx.get('min_length', 1)} item(s)"
    if kind == "too_long":
        return parts, (f"expected at most {ctx.get('max_length')} item(s), "
                       f"got {ctx.get('actual_length')}")
    if kind == "finite_number":
        return parts, f"expected a finite number{got}"
    if kind in _EXPECTED_BY_TYPE:
        return parts, f"expected {expected or _EXPECTED_BY_TYPE[kind]}{got}"
    return parts, f"{err['msg']}{got}"


def _section_parts(parts: tuple[str | int, ...]) -> tuple[str | int, ...]:
    return (f"[{render_key(parts)}]",) if parts else parts


_EXPECTED_BY_TYPE: Final = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "dict_type": "a table",
    "list_type": "an array",
    "datetime_type": DATETIME_EXAMPLE,
}
_BOUNDS: Final = {
    "greater_than": (">", "gt"),
    "greater_than_equal": (">=", "ge"),
    "less_than": ("<", "lt"),
    "less_than_equal": ("<=", "le"),
}
_EXPECTED_BY_ANNOTATION: Final[dict[object, str]] = {
    str: "a string", int: "an integer", float: "a number", bool: "true or false",
    datetime: DATETIME_EXAMPLE, date: "a TOML date", time: "a TOML time",
}


def _got(value: object) -> str:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)  # 2.0 stays 2.0: a release name written without quotes
    return toml_repr(value)


def _strip(annotation: Any) -> Any:
    """``annotation`` without ``Annotated`` wrappers."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _members(annotation: Any) -> list[Any]:
    """The members of a union (None left out), or ``[annotation]``."""
    annotation = _strip(annotation)
    if get_origin(annotation) in (typing.Union, types.UnionType):
        return [_strip(a) for a in get_args(annotation) if a is not type(None)]
    return [annotation]


def _base(annotation: Any) -> Any:
    """The single non-None type of an optional annotation, or the annotation."""
    members = _members(annotation)
    return members[0] if len(members) == 1 else _strip(annotation)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _is_section(annotation: Any) -> bool:
    return bool(_members(annotation)) and all(_is_model(m) for m in _members(annotation))


def _model_tags(model: type[BaseModel]) -> set[object]:
    """The values of ``model``'s single-value Literal fields (its discriminator tags)."""
    tags: set[object] = set()
    for info in model.model_fields.values():
        ann = _strip(info.annotation)
        if get_origin(ann) is Literal and len(get_args(ann)) == 1:
            tags.update(get_args(ann))
    return tags


def _tags_text(annotation: Any) -> str:
    members = [m for m in _members(annotation) if _is_model(m)]
    tags = [str(t) for m in members for t in sorted(_model_tags(m), key=str)]
    return ", ".join(tags) if len(members) > 1 else ""


def _literal_text(annotation: Any, ctx: Mapping[str, Any]) -> str:
    base = _base(annotation)
    if get_origin(base) is Literal:
        return ", ".join(str(v) for v in get_args(base))
    found = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
    return ", ".join(found) if found else str(ctx.get("expected", "a listed value"))


def _expected_text(annotation: Any) -> str | None:
    base = _base(annotation)
    if base is None:
        return None
    if _is_section(annotation):
        return "a table"
    origin = get_origin(base)
    if origin is list:
        return "an array"
    if origin is dict:
        return "a table"
    if origin is Literal:
        return "one of " + ", ".join(str(v) for v in get_args(base))
    return _EXPECTED_BY_ANNOTATION.get(base)


def _description(info: FieldInfo | None, annotation: Any) -> str | None:
    """The ``description`` of the field, or of an ``Annotated`` list item."""
    if info is not None and info.description:
        return info.description
    while get_origin(annotation) is Annotated:
        for meta in get_args(annotation)[1:]:
            if isinstance(meta, FieldInfo) and meta.description:
                return meta.description
        annotation = get_args(annotation)[0]
    return None


def _field_named(model: type[BaseModel], key: str) -> FieldInfo | None:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def _walk(root: type[BaseModel], loc: tuple[str | int, ...]
          ) -> tuple[tuple[str | int, ...], FieldInfo | None, Any]:
    """Follow ``loc`` through the models from ``root``: the key path to show (union tags
    dropped), the FieldInfo of the last field, and the annotation found there."""
    parts: list[str | int] = []
    info: FieldInfo | None = None
    annotation: Any = root
    for part in loc:
        members = _members(annotation)
        if isinstance(part, int):
            parts.append(part)
            container = members[0] if len(members) == 1 else None
            args = get_args(container) if get_origin(container) in (list, tuple) else ()
            annotation, info = (args[0] if args else None), None
            continue
        parts.append(part)
        tagged = [m for m in members if _is_model(m) and part in _model_tags(m)]
        if len(members) > 1 and tagged:
            parts.pop()  # a union tag, not a key
            annotation = tagged[0]
            continue
        step: Any = None
        for member in members:
            if _is_model(member) and (found := _field_named(member, part)) is not None:
                info, step = found, found.annotation
                break
            if get_origin(member) is dict:
                info, step = None, get_args(member)[1]
                break
        else:
            info = None
        annotation = step
    return tuple(parts), info, annotation
