"""The watch protocol's framing: frames with and without index, LEN, escapes, split and coalesced reads, junk."""

from __future__ import annotations

import pytest

from devices.watch.frames import Frame, FrameReader, Malformed, encode_frame, escape, parse_frame, reply_to, unescape


def frames(items):
    return [i for i in items if isinstance(i, Frame)]


def drops(items):
    return [i.reason for i in items if isinstance(i, Malformed)]


def test_a_frame_without_index():
    (frame,) = FrameReader().feed(b"[3G*8800000015*0002*LK]")
    assert frame == Frame("3G", "8800000015", None, b"LK")
    assert frame.type == "LK" and frame.fields == []


def test_a_frame_with_a_four_hex_index_keeps_it_for_the_reply():
    (frame,) = FrameReader().feed(b"[SG*5678901234*0A1f*0002*LK]")
    assert (frame.manufacturer, frame.device_id, frame.index, frame.content) == ("SG", "5678901234", "0A1f", b"LK")
    assert reply_to(frame, "LK") == b"[SG*5678901234*0A1f*0002*LK]"


def test_reply_without_index_mirrors_prefix_and_id_and_counts_length_in_upper_hex():
    frame = parse_frame(b"CS*1234567890*0004*INIT")
    assert reply_to(frame, "INIT,1") == b"[CS*1234567890*0006*INIT,1]"
    assert encode_frame("3G", "1", None, "x" * 171).startswith(b"[3G*1*00AB*")


def test_content_with_commas_and_fields():
    frame = parse_frame(b"3G*8800000015*000C*LK,50,100,88")
    assert frame.type == "LK" and frame.fields == ["50", "100", "88"]


def test_length_must_match_the_content():
    assert parse_frame(b"3G*8800000015*0003*LK") == Malformed("bad_length", 23)
    reader = FrameReader()
    out = reader.feed(b"[3G*8800000015*0009*LK][3G*8800000015*0002*LK]")
    assert drops(out) == ["bad_length"] and len(frames(out)) == 1


def test_a_content_starting_with_four_hex_digits_is_not_taken_for_an_index():
    # "0001*..." could look like INDEX*LEN; only the reading whose LEN fits is taken.
    frame = parse_frame(b"3G*8800000015*0009*ABCD*EFGH")
    assert frame == Frame("3G", "8800000015", None, b"ABCD*EFGH")


def test_escapes_round_trip_and_the_length_may_count_either_side():
    raw = bytes([0x7D, 0x5B, 0x5D, 0x2C, 0x2A, 0x00, 0x41])
    wire = escape(raw)
    assert wire == bytes([0x7D, 1, 0x7D, 2, 0x7D, 3, 0x7D, 4, 0x7D, 5, 0x00, 0x41])
    assert unescape(wire) == raw
    body = b"TK,"
    on_wire = b"[3G*8800000015*" + f"{len(body + wire):04X}".encode() + b"*" + body + wire + b"]"
    (frame,) = FrameReader().feed(on_wire)
    assert frame.content == body + raw
    unescaped_len = b"[3G*8800000015*" + f"{len(body + raw):04X}".encode() + b"*" + body + wire + b"]"
    assert frames(FrameReader().feed(unescaped_len))[0].content == body + raw


def test_a_bad_escape_is_dropped():
    assert drops(FrameReader().feed(b"[3G*8800000015*0004*TK}\x09]")) == ["bad_escape"]
    assert unescape(b"ab}") is None


def test_several_frames_in_one_read():
    out = FrameReader().feed(b"[3G*1234567890*0002*LK][3G*1234567890*0004*INIT][3G*1234567890*0003*TKQ]")
    assert [f.type for f in frames(out)] == ["LK", "INIT", "TKQ"] and drops(out) == []


@pytest.mark.parametrize("cut", range(1, 23))
def test_one_frame_split_across_reads_at_any_byte(cut):
    data = b"[3G*1234567890*0002*LK]"
    reader = FrameReader()
    first = reader.feed(data[:cut])
    assert first == [] and reader.pending == cut
    assert frames(reader.feed(data[cut:])) == [Frame("3G", "1234567890", None, b"LK")]
    assert reader.pending == 0


def test_byte_by_byte():
    data = b"[3G*1234567890*0002*LK][3G*1234567890*0001*0002*LK]"
    reader = FrameReader()
    out = [item for b in data for item in reader.feed(bytes([b]))]
    assert [(f.index, f.type) for f in frames(out)] == [(None, "LK"), ("0001", "LK")] and drops(out) == []


def test_junk_before_between_and_after_frames_is_dropped_and_named():
    reader = FrameReader()
    out = reader.feed(b"GET / HTTP/1.1\r\n[3G*1234567890*0002*LK]\r\n[3G*1234567890*0002*LK]xx")
    assert len(frames(out)) == 2
    assert drops(out) == ["garbage", "garbage", "garbage"]
    assert reader.pending == 0


def test_a_frame_cut_short_by_the_next_one_is_dropped_and_the_next_kept():
    out = FrameReader().feed(b"[3G*1234567890*00[3G*1234567890*0002*LK]")
    assert drops(out) == ["truncated"] and [f.type for f in frames(out)] == ["LK"]


def test_bad_headers_are_dropped():
    reader = FrameReader()
    out = reader.feed(b"[]" b"[3G]" b"[3G*1234567890*LK]" b"[3GX*1234567890*0002*LK]" b"[3G*a/b*0002*LK]"
                      b"[3G*1234567890*zzzz*LK]")
    assert drops(out) == ["bad_header"] * 6 and frames(out) == []


def test_an_endless_frame_is_dropped_instead_of_growing_the_buffer():
    reader = FrameReader(max_frame=100)
    out = reader.feed(b"[3G*1234567890*0002*" + b"A" * 200)
    assert drops(out) == ["too_long"] and reader.pending == 0
    assert frames(reader.feed(b"[3G*1234567890*0002*LK]"))[0].type == "LK"
