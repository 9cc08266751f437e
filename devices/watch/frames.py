"""The watch protocol's framing (pure): `[MF*ID*[INDEX*]LEN*CONTENT]` frames out of a TCP byte stream, and back.

MF is the vendor's two-character prefix (3G, SG, CS, …), ID the watch id, INDEX an optional 4-hex
message number the replies must echo, LEN the content length as 4 hex digits. Binary content escapes
0x7D 0x5B 0x5D 0x2C 0x2A as 0x7D 0x01..0x05, so `[` and `]` only ever delimit frames. A TCP read may
hold several frames, part of one, or junk; `FrameReader` sorts that out and names what it drops.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ESCAPE = 0x7D
_ESCAPED = {0x7D: 0x01, 0x5B: 0x02, 0x5D: 0x03, 0x2C: 0x04, 0x2A: 0x05}
_UNESCAPED = {code: byte for byte, code in _ESCAPED.items()}
MAX_FRAME_BYTES = 0xFFFF + 100  # LEN has four hex digits; the header adds at most the id and index
_MANUFACTURER = re.compile(rb"^[A-Za-z0-9]{2}$")
_DEVICE_ID = re.compile(rb"^[A-Za-z0-9_-]{2,64}$")
_HEX4 = re.compile(rb"^[0-9A-Fa-f]{4}$")


@dataclass(frozen=True)
class Frame:
    """One decoded frame; `content` is unescaped."""

    manufacturer: str
    device_id: str
    index: str | None
    content: bytes

    @property
    def type(self) -> str:
        """The message type: the content up to the first comma (`LK`, `UD`, `AL`, `bphrt`, …)."""
        head = self.content.split(b",", 1)[0]
        return head.decode("ascii", "replace")

    @property
    def fields(self) -> list[str]:
        """The text content's comma-separated values after the type (empty for a bare type)."""
        parts = self.content.decode("utf-8", "replace").split(",")
        return parts[1:]


@dataclass(frozen=True)
class Malformed:
    """Bytes that were dropped, and why (a metrics label): garbage, too_long, truncated, bad_header,
    bad_length, bad_escape."""

    reason: str
    size: int


def escape(data: bytes) -> bytes:
    """Escape binary content for the wire."""
    if not any(b in data for b in (b"}", b"[", b"]", b",", b"*")):
        return bytes(data)
    out = bytearray()
    for byte in data:
        code = _ESCAPED.get(byte)
        if code is None:
            out.append(byte)
        else:
            out += bytes((ESCAPE, code))
    return bytes(out)


def unescape(data: bytes) -> bytes | None:
    """Undo `escape`; None when an escape byte is followed by anything but 0x01..0x05."""
    if ESCAPE not in data:
        return bytes(data)
    out = bytearray()
    pending = False
    for byte in data:
        if pending:
            original = _UNESCAPED.get(byte)
            if original is None:
                return None
            out.append(original)
            pending = False
        elif byte == ESCAPE:
            pending = True
        else:
            out.append(byte)
    return None if pending else bytes(out)


def _build(manufacturer: bytes, device_id: bytes, index: bytes | None, length: bytes, wire: bytes
           ) -> Frame | Malformed:
    size = len(wire) + len(manufacturer) + len(device_id) + len(length) + (len(index) + 1 if index else 0) + 5
    if not (_MANUFACTURER.match(manufacturer) and _DEVICE_ID.match(device_id)):
        return Malformed("bad_header", size)
    content = unescape(wire)
    if content is None:
        return Malformed("bad_escape", size)
    # Vendors differ on whether LEN counts the bytes on the wire or the unescaped ones; accept either.
    if int(length, 16) not in (len(wire), len(content)):
        return Malformed("bad_length", size)
    return Frame(manufacturer.decode(), device_id.decode(), index.decode() if index is not None else None, content)


def parse_frame(body: bytes) -> Frame | Malformed:
    """Parse what lies between `[` and `]`. With five or more `*`-fields and a 4-hex third field whose
    LEN fits, the third field is the index; otherwise the frame has none."""
    parts = body.split(b"*", 4)
    if len(parts) == 5 and _HEX4.match(parts[2]) and _HEX4.match(parts[3]):
        indexed = _build(parts[0], parts[1], parts[2], parts[3], parts[4])
        if isinstance(indexed, Frame):
            return indexed
    parts = body.split(b"*", 3)
    if len(parts) != 4 or not _HEX4.match(parts[2]):
        return Malformed("bad_header", len(body) + 2)
    return _build(parts[0], parts[1], None, parts[2], parts[3])


def encode_frame(manufacturer: str, device_id: str, index: str | None, content: bytes | str) -> bytes:
    """One frame for the wire. Text content goes as is (its commas are separators); escape binary
    content with `escape` first."""
    data = content.encode() if isinstance(content, str) else content
    head = f"[{manufacturer}*{device_id}*" + (f"{index}*" if index is not None else "") + f"{len(data):04X}*"
    return head.encode() + data + b"]"


def reply_to(frame: Frame, content: bytes | str) -> bytes:
    """A reply that mirrors the frame's vendor prefix, id and index."""
    return encode_frame(frame.manufacturer, frame.device_id, frame.index, content)


class FrameReader:
    """Reassembles frames from TCP reads: several per read, one across reads, junk in between."""

    def __init__(self, max_frame: int = MAX_FRAME_BYTES) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame | Malformed]:
        """Add one read; return the frames it completed and what was dropped, in stream order."""
        buf = self._buffer
        buf += data
        out: list[Frame | Malformed] = []
        while buf:
            start = buf.find(b"[")
            if start < 0:
                out.append(Malformed("garbage", len(buf)))
                buf.clear()
                break
            if start > 0:
                out.append(Malformed("garbage", start))
                del buf[:start]
            end = buf.find(b"]", 1)
            restart = buf.find(b"[", 1, end if end > 0 else len(buf))
            if restart > 0:  # a new frame began before this one ended: the rest of this one was lost
                out.append(Malformed("truncated", restart))
                del buf[:restart]
                continue
            if end < 0:
                if len(buf) > self.max_frame:
                    out.append(Malformed("too_long", len(buf)))
                    buf.clear()
                break
            body = bytes(buf[1:end])
            del buf[:end + 1]
            out.append(parse_frame(body) if end + 1 <= self.max_frame else Malformed("too_long", end + 1))
        return out
