"""The batch layout of wit/README.md, against bytes written out by hand."""

import pytest

from eddy_sdk import layout
from eddy_sdk.layout import BatchBuilder, LayoutError, OutputWriter, decode_batch, decode_output

# version 1, watermark 1000, processing time 2000,
# K=1: key "ab" with one value-state slot that is absent (0xFFFFFFFF),
# N=3: record (key 0, ts 1500, "{}"), event-time timer (key 0, ts 1600),
#      window (key 0, [0, 60000), 1 element (ts 5, "x")).
HAND_WRITTEN_BATCH = bytes.fromhex(
    "01"
    "e803000000000000"
    "d007000000000000"
    "01000000"
    "02000000" "6162"
    "ffffffff"
    "03000000"
    "00" "00000000" "dc05000000000000" "02000000" "7b7d"
    "01" "00000000" "4006000000000000" "00"
    "03" "00000000" "0000000000000000" "60ea000000000000" "01000000"
    "0500000000000000" "01000000" "78"
)


def test_a_hand_written_batch_decodes_field_by_field():
    batch = decode_batch(HAND_WRITTEN_BATCH, value_states=1)
    assert (batch.watermark, batch.processing_time) == (1000, 2000)
    assert batch.keys == [b"ab"]
    assert batch.slots == [[None]]
    record, timer, window = batch.events
    assert (record.tag, record.key_ref, record.timestamp, record.value) == (0, 0, 1500, b"{}")
    assert (timer.tag, timer.key_ref, timer.timestamp, timer.domain) == (1, 0, 1600, layout.DOMAIN_EVENT_TIME)
    assert (window.tag, window.start, window.end, window.elements) == (3, 0, 60000, [(5, b"x")])
    assert window.timestamp == 59999


def test_the_builder_writes_the_same_bytes_as_the_hand_written_batch():
    built = (
        BatchBuilder(1000, 2000)
        .key(b"ab", [None])
        .record(0, 1500, b"{}")
        .timer(0, 1600, layout.DOMAIN_EVENT_TIME)
        .window(0, 0, 60000, [(5, b"x")])
        .build()
    )
    assert built == HAND_WRITTEN_BATCH


def test_present_value_state_slots_and_second_and_broadcast_records():
    batch = bytes.fromhex(
        "01" "0000000000000080" "0000000000000000"  # watermark i64::MIN: none yet
        "01000000" "01000000" "6b" "02000000" "3431"  # key "k", slot "41"
        "02000000"
        "02" "00000000" "0100000000000000" "01000000" "61"
        "04" "ffffffff" "0200000000000000" "00000000"
    )
    decoded = decode_batch(batch, value_states=1)
    assert decoded.watermark == layout.NO_TIMESTAMP
    assert decoded.slots == [[b"41"]]
    assert [(e.tag, e.key_ref, e.timestamp, e.value) for e in decoded.events] == [
        (2, 0, 1, b"a"),
        (4, layout.NO_KEY, 2, b""),
    ]
    rebuilt = BatchBuilder().key(b"k", [b"41"]).second_record(0, 1, b"a").broadcast_record(2, b"").build()
    assert rebuilt == batch


def test_every_output_entry_is_written_as_the_table_says():
    out = OutputWriter()
    out.emit(3, b"hi")
    out.forward(4)
    out.emit_side(1, 5, b"s")
    out.set_timer(2, layout.DOMAIN_PROCESSING_TIME, 7)
    out.delete_timer(2, layout.DOMAIN_EVENT_TIME, -1)
    out.set_value_state(6, 0, b"1")
    out.clear_value_state(6, 1)
    expected = bytes.fromhex(
        "00" "03000000" "02000000" "6869"
        "01" "04000000"
        "02" "01000000" "05000000" "01000000" "73"
        "03" "02000000" "01" "0700000000000000"
        "04" "02000000" "00" "ffffffffffffffff"
        "05" "06000000" "00000000" "01000000" "31"
        "06" "06000000" "01000000"
    )
    assert out.getvalue() == expected
    assert decode_output(expected) == [
        ("emit", 3, b"hi"),
        ("forward", 4),
        ("emit-side", 1, 5, b"s"),
        ("set-timer", 2, 1, 7),
        ("delete-timer", 2, 0, -1),
        ("set-value", 6, 0, b"1"),
        ("clear-value", 6, 1),
    ]


def test_aggregate_buffers():
    groups = bytes.fromhex(
        "01000000" "01000000" "30" "02000000"
        "0a00000000000000" "01000000" "61"
        "0b00000000000000" "00000000"
    )
    assert layout.decode_groups(groups) == [(b"0", [(10, b"a"), (11, b"")])]
    assert layout.encode_groups([(b"0", [(10, b"a"), (11, b"")])]) == groups
    windows = bytes.fromhex(
        "01000000" "01000000" "6b" "0000000000000000" "1000000000000000" "01000000" "32"
    )
    assert layout.decode_fired_windows(windows) == [(b"k", 0, 16, b"2")]
    assert layout.encode_fired_windows([(b"k", 0, 16, b"2")]) == windows
    assert layout.split_length_prefixed(bytes.fromhex("01000000" "61" "00000000")) == [b"a", b""]
    assert layout.split_length_prefixed_pairs(bytes.fromhex("01000000" "61" "01000000" "62")) == [(b"a", b"b")]


@pytest.mark.parametrize(
    "batch, message",
    [
        (HAND_WRITTEN_BATCH[:-1], "ends inside"),
        (HAND_WRITTEN_BATCH + b"\0", "after its last event"),
        (b"\x02" + HAND_WRITTEN_BATCH[1:], "layout version 2"),
        (HAND_WRITTEN_BATCH[:35] + b"\x09" + HAND_WRITTEN_BATCH[36:], "event 0 has unknown tag 9"),
    ],
)
def test_broken_batches_are_refused_with_what_is_wrong(batch, message):
    with pytest.raises(LayoutError, match=message):
        decode_batch(batch, value_states=1)


def test_the_stateless_fast_path_reads_records_and_refuses_the_rest():
    batch = BatchBuilder().record(layout.NO_KEY, 1, b"a").record(layout.NO_KEY, 2, b"bc").build()
    assert list(layout.iter_records(batch)) == [(0, b"a"), (1, b"bc")]
    timer = BatchBuilder().timer(0, 1, 0).build()
    with pytest.raises(LayoutError, match="stateless functions take records only"):
        list(layout.iter_records(timer))


def test_the_stateless_fast_path_refuses_truncated_and_trailing_bytes():
    batch = BatchBuilder().record(layout.NO_KEY, 1, b"abc").build()
    with pytest.raises(LayoutError, match="ends inside event 0's value"):
        list(layout.iter_records(batch[:-1]))
    with pytest.raises(LayoutError, match="ends inside event 0"):
        list(layout.iter_records(batch[:-10]))
    with pytest.raises(LayoutError, match="1 bytes after its last event"):
        list(layout.iter_records(batch + b"\0"))
