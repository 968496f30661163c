"""Tests of the exec-free records that stand in for dataclasses in the runtime."""

import pickle

import pytest

from harness.runtime.record import FrozenInstanceError, as_dict, field, record, replace


@record(frozen=True)
class Point:
    """A frozen record with a default and a factory field left out of the hash."""

    x: int
    y: int = 0
    tags: dict = field(default_factory=dict, hash=False)


@record
class Counter:
    """A mutable record."""

    name: str
    count: int = 0


def test_positional_keyword_and_default_arguments():
    """Fields fill from positions, then keywords, then defaults; factories give each record its own value."""
    first, second = Point(1), Point(1, y=2)
    assert (first.x, first.y, second.y) == (1, 0, 2)
    assert first.tags == {} and first.tags is not Point(1).tags


def test_every_field_by_position_or_by_keyword_fills_the_record():
    """The two fast call shapes (all fields positional, all by keyword) give the same record as the generic one,
    and a full-size keyword call with a wrong name is still refused, naming it."""
    tags = {"a": 1}
    assert Point(1, 2, tags) == Point(x=1, tags=tags, y=2) == Point(1, y=2, tags=tags)
    assert Point(x=1, y=2, tags=tags).tags is tags
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        Point(x=1, y=2, z=tags)
    with pytest.raises(FrozenInstanceError):
        Point(1, 2, tags).x = 3


def test_bad_arguments_name_the_field():
    """Missing, repeated, unknown and surplus arguments raise TypeError naming the field or the count."""
    with pytest.raises(TypeError, match="missing required argument 'x'"):
        Point()
    with pytest.raises(TypeError, match="multiple values for argument 'x'"):
        Point(1, x=2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        Point(1, z=3)
    with pytest.raises(TypeError, match="takes 3 positional arguments but 4"):
        Point(1, 2, {}, 4)


def test_frozen_records_refuse_assignment_and_hash_by_value():
    """Assignment and deletion raise FrozenInstanceError; equal records hash alike, the hash=False field aside."""
    point = Point(1, 2)
    with pytest.raises(FrozenInstanceError):
        point.x = 5
    with pytest.raises(FrozenInstanceError):
        del point.y
    assert hash(point) == hash(Point(1, 2, {"a": "b"})) and point != Point(1, 2, {"a": "b"})
    assert {point, Point(1, 2)} == {point}


def test_mutable_records_compare_by_value_and_are_unhashable():
    """A mutable record takes assignments, equals its field-wise twin, and is unhashable (as a dataclass)."""
    counter = Counter("a")
    counter.count += 1
    assert counter == Counter("a", 1) and counter != Point(1)
    with pytest.raises(TypeError):
        hash(counter)


def test_replace_as_dict_repr_and_pickle():
    """replace copies with changes (refusing unknown fields); as_dict, repr and pickling keep every field."""
    point = Point(1, 2)
    assert replace(point, y=3) == Point(1, 3)
    with pytest.raises(TypeError, match="no field 'z'"):
        replace(point, z=1)
    assert as_dict(point) == {"x": 1, "y": 2, "tags": {}}
    assert repr(point) == "Point(x=1, y=2, tags={})"
    assert pickle.loads(pickle.dumps(point)) == point


def test_a_required_field_after_a_defaulted_one_is_refused():
    """As with dataclasses, a field without a default may not follow one with a default."""
    with pytest.raises(TypeError, match="Bad.b: a field without a default"):
        @record
        class Bad:
            a: int = 0
            b: int
