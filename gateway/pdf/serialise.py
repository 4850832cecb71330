"""fpdf2's serialisation of a PDF object, without its walk over every attribute.

fpdf2 (2.8.9) writes an object's dictionary from `{key: getattr(obj, key) for key in dir(obj)}`:
for each of a certificate's objects it lists, sorts and reads some sixty names (methods,
properties, dunders), then keeps the public ones that hold a value, each name converted to
CamelCase again. `serialised()` writes the same text from the names that can hold a value: a
class's public attributes that are not functions, found once per class, and the object's own
public attributes; the values are converted as fpdf2's `build_obj_dict` converts them.

Only for objects whose class serialises as `PDFObject` or `PDFContentStream` does, and with no
encryption; anything else is fpdf2's own `serialize()`. tests/unit/test_pdf_serialise.py
compares both on every object of varied certificates.
"""

from __future__ import annotations

import inspect
from types import FunctionType
from typing import Any, Final

from fpdf.syntax import PDFContentStream, PDFObject, camel_case, create_dictionary_string

__all__ = ["serialised"]

_SKIPPED: Final = frozenset(("id", "ref"))
# per class: its public names in dir() order, each with whether it is a function (a method,
# whose bound value fpdf2 skips as callable)
_PLANS: dict[type[PDFObject], tuple[tuple[str, bool], ...] | None] = {}
_KEYS: dict[str, str] = {}  # "/CamelCase" by attribute name


def _plan(cls: type[PDFObject]) -> tuple[tuple[str, bool], ...] | None:
    """The names fpdf2 may write for an object of `cls`; None when fpdf2 serialises it
    otherwise than PDFObject or PDFContentStream do."""
    if cls.serialize not in (PDFObject.serialize, PDFContentStream.serialize):
        return None
    if cls._build_obj_dict is not PDFObject._build_obj_dict:
        return None
    if cls.content_stream not in (PDFObject.content_stream, PDFContentStream.content_stream):
        return None
    if "__dir__" in {name for klass in cls.__mro__[:-1] for name in vars(klass)}:
        return None
    plan = []
    for name in dir(cls):
        if name.startswith("_") or name in _SKIPPED:
            continue
        attribute = inspect.getattr_static(cls, name)
        plan.append((name, isinstance(attribute, FunctionType | classmethod | staticmethod)))
    return tuple(plan)


def _key(name: str) -> str:
    key = _KEYS.get(name)
    if key is None:
        key = _KEYS[name] = f"/{camel_case(name)}"
    return key


def serialised(obj: PDFObject) -> str:
    """`obj.serialize()` as fpdf2 2.8.9 writes it with no encryption."""
    cls = type(obj)
    if cls in _PLANS:
        plan = _PLANS[cls]
    else:
        plan = _PLANS[cls] = _plan(cls)
    if plan is None:
        return str(obj.serialize())
    own = getattr(obj, "__dict__", None)
    names: list[str] | tuple[str, ...]
    if own:
        public = [n for n in own if not n.startswith("_") and n not in _SKIPPED]
        methods = {name for name, method in plan if method and name not in own}
        names = sorted({name for name, _ in plan if name not in methods}.union(public))
    else:
        names = [name for name, method in plan if not method]
    obj_id = obj.id
    values: dict[str, object] = {}
    for name in names:
        value: Any = getattr(obj, name)
        if value is None or callable(value):
            continue
        if hasattr(value, "value"):  # an Enum
            value = value.value
        if isinstance(value, PDFObject):
            value = value.ref
        elif hasattr(value, "serialize"):
            value = value.serialize(_security_handler=None, _obj_id=obj_id)
        elif isinstance(value, bool):
            value = str(value).lower()
        values[_key(name)] = value
    out = [f"{obj_id} 0 obj", "<<", create_dictionary_string(values, "", ""), ">>"]
    stream = obj.content_stream()
    if stream is not None:
        text = str(stream, "latin-1") if isinstance(stream, bytes | bytearray) else stream
        out.append(f"stream\n{text}\nendstream")
    out.append("endobj")
    return "\n".join(out)
