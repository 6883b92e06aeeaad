"""Message ids: `next_ids` makes the ids `next_id` would, in one call."""

from __future__ import annotations

from yizhan.domain.ids import _GEN_BITS, _SEQ_BITS, IdGenerator


def _generator_of(message_id: int) -> int:
    return (message_id >> _SEQ_BITS) & ((1 << _GEN_BITS) - 1)


def test_a_block_of_ids_is_unique_ordered_and_continues_with_next_id() -> None:
    ids = IdGenerator(7)
    made = [ids.next_id(), *ids.next_ids(2500), ids.next_id(), *ids.next_ids(3),
            *ids.next_ids(1), ids.next_id()]  # (one id: a one-number send's)
    assert len(made) == len(set(made)) == 2507
    assert made == sorted(made)
    assert {_generator_of(i) for i in made} == {7}


def test_a_block_borrows_the_next_millisecond_when_the_sequence_runs_out() -> None:
    ids = IdGenerator(1)
    block = ids.next_ids((1 << _SEQ_BITS) + 5)
    milliseconds = {i >> (_GEN_BITS + _SEQ_BITS) for i in block}
    assert len(milliseconds) >= 2
    assert all(i & ((1 << _SEQ_BITS) - 1) < 1 << _SEQ_BITS for i in block)


def test_an_empty_block() -> None:
    assert IdGenerator(1).next_ids(0) == []
