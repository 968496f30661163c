"""Dataclass-like records built without exec(): the runtime CLI pays every class definition on each start.

`dataclasses` compiles an __init__, __eq__, __repr__ (and __setattr__, __hash__ when frozen) from source
for each class, and imports `inspect` to do it: about 35 ms of the CLI's 70 ms of imports natively, and
twenty times that under TCG, where the runtime's CLI is benchmarked against runc and crun. Here the methods
are shared generic functions that read the class's field table, so defining a record costs a dict walk.

Supported: annotated fields in order, defaults, `field(default_factory=..., hash=...)`, `frozen=True`
(assignment raises FrozenInstanceError; the record hashes by value), `replace` and `as_dict`.
"""

from __future__ import annotations

MISSING = object()


class FrozenInstanceError(AttributeError):
    """An assignment to a field of a frozen record."""


class Field:
    """One field: its name, default or default factory, and whether it takes part in the hash."""

    __slots__ = ("name", "default", "default_factory", "hash")

    def __init__(self, default=MISSING, default_factory=MISSING, hash=True):  # noqa: A002 (dataclasses' name)
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.hash = hash


def field(*, default=MISSING, default_factory=MISSING, hash=True) -> Field:  # noqa: A002
    """A field with a default factory (a fresh mutable value per record) or hash=False (an unhashable mapping)."""
    return Field(default, default_factory, hash)


def record(cls=None, *, frozen: bool = False):
    """Class decorator: make the annotated class attributes fields, with __init__, __eq__ and __repr__."""
    def build(cls):
        fields = []
        for name in cls.__dict__.get("__annotations__", {}):
            declared = cls.__dict__.get(name, MISSING)
            entry = declared if isinstance(declared, Field) else Field(default=declared)
            entry.name = name
            if isinstance(declared, Field):
                delattr(cls, name)  # reads fall through to the instance's value, never to the Field
            if fields and entry.default is MISSING and entry.default_factory is MISSING and \
                    (fields[-1].default is not MISSING or fields[-1].default_factory is not MISSING):
                raise TypeError(f"{cls.__name__}.{name}: a field without a default follows one with a default")
            fields.append(entry)
        cls.__record_fields__ = tuple(fields)
        cls.__init__ = _make_init(cls.__record_fields__)
        cls.__repr__ = _repr
        cls.__eq__ = _eq
        if frozen:
            cls.__setattr__ = _refuse_assignment
            cls.__delattr__ = _refuse_assignment
            cls.__hash__ = _hash
        else:
            cls.__hash__ = None  # mutable and compared by value, as a dataclass with eq=True
        return cls
    return build if cls is None else build(cls)


def replace(instance, **changes):
    """A copy of `instance` with `changes` applied (dataclasses.replace)."""
    values = {entry.name: getattr(instance, entry.name) for entry in instance.__record_fields__}
    unknown = set(changes) - set(values)
    if unknown:
        raise TypeError(f"{type(instance).__name__} has no field {sorted(unknown)[0]!r}")
    values.update(changes)
    return type(instance)(**values)


def as_dict(instance) -> dict:
    """The record's fields as a dict, one level deep (what a JSON state file holds)."""
    return {entry.name: getattr(instance, entry.name) for entry in instance.__record_fields__}


def _make_init(fields: tuple) -> object:
    """The class's __init__: every field given positionally, or every field by keyword, fills the instance's
    __dict__ at once (the seccomp compiler makes tens of thousands of instructions per container, and the
    generic path cost 150 us each under TCG); any other call takes the generic path with its checks."""
    names = tuple(entry.name for entry in fields)
    count, name_set = len(names), frozenset(names)

    def __init__(self, *args, **kwargs):
        if not kwargs and len(args) == count:
            self.__dict__.update(zip(names, args))
        elif not args and len(kwargs) == count and name_set.issuperset(kwargs):
            self.__dict__.update(kwargs)
        else:
            _init(self, fields, args, kwargs)
    return __init__


def _init(self, fields: tuple, args: tuple, kwargs: dict) -> None:
    name = type(self).__name__
    if len(args) > len(fields):
        raise TypeError(f"{name}() takes {len(fields)} positional arguments but {len(args)} were given")
    values = dict(zip((entry.name for entry in fields), args))
    for key, value in kwargs.items():
        if key in values:
            raise TypeError(f"{name}() got multiple values for argument {key!r}")
        values[key] = value
    for entry in fields:
        if entry.name in values:
            value = values.pop(entry.name)
        elif entry.default is not MISSING:
            value = entry.default
        elif entry.default_factory is not MISSING:
            value = entry.default_factory()
        else:
            raise TypeError(f"{name}() missing required argument {entry.name!r}")
        object.__setattr__(self, entry.name, value)
    if values:
        raise TypeError(f"{name}() got an unexpected keyword argument {next(iter(values))!r}")


def _repr(self) -> str:
    shown = ", ".join(f"{entry.name}={getattr(self, entry.name)!r}" for entry in type(self).__record_fields__)
    return f"{type(self).__name__}({shown})"


def _values(self) -> tuple:
    return tuple(getattr(self, entry.name) for entry in type(self).__record_fields__)


def _eq(self, other):
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self) -> int:
    return hash(tuple(getattr(self, entry.name) for entry in type(self).__record_fields__ if entry.hash))


def _refuse_assignment(self, name, *value):
    raise FrozenInstanceError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")
