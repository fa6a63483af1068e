"""TFRecord files and protobuf wire format, read (and TFRecords written) without TensorFlow.

A TFRecord file is a sequence of records, each framed as::

    uint64 length (little-endian) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)

CRC32C is the Castagnoli CRC (reflected polynomial 0x82F63B78); TensorFlow stores it "masked"
(rotated right by 15 bits plus 0xA282EAD8) so that a CRC of data containing CRCs stays well
distributed. Both CRCs are verified; a mismatch or a file that ends inside a record raises
:class:`TFRecordError` naming the byte offset, so a corrupted download never becomes labels.

The protobuf decoder handles the wire format (varint, 64-bit, length-delimited, 32-bit fields),
which is all that the NAS-Bench-101 ``ModelMetrics`` message needs; the caller maps field
numbers to meanings from the ``.proto`` file.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import InvalidFileError

_CASTAGNOLI_REFLECTED = 0x82F63B78
_MASK_DELTA = 0xA282EAD8
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CASTAGNOLI_REFLECTED if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


class TFRecordError(InvalidFileError):
    """A TFRecord file is corrupted or truncated; the message names the byte offset."""


def _read_exactly(stream: BinaryIO, size: int, path: Path, offset: int, what: str) -> bytes:
    """``size`` bytes of the record that starts at ``offset``; TFRecordError if the file ends first."""
    start = stream.tell()
    data = stream.read(size)
    if len(data) != size:
        raise TFRecordError(f"{path}: truncated at byte {start + len(data)}: the file ends inside the {what} "
                            f"of the record that starts at byte {offset} (needed {size} bytes, got {len(data)})")
    return data


def read_records(path: Path | str) -> Iterator[tuple[int, bytes]]:
    """(byte offset, data) of every record of a TFRecord file, both CRCs verified."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; expected a TFRecord file")
    with open(path, "rb") as stream:
        offset = 0
        while header := stream.read(_HEADER.size):
            if len(header) != _HEADER.size:
                raise TFRecordError(f"{path}: truncated at byte {offset + len(header)}: the file ends inside "
                                    f"the length header of the record that starts at byte {offset}")
            length, length_crc = _HEADER.unpack(header)
            if masked_crc32c(header[:8]) != length_crc:
                raise TFRecordError(f"{path}: corrupted length header of the record at byte {offset} "
                                    "(its CRC32C does not match)")
            data = _read_exactly(stream, length, path, offset, "data")
            (data_crc,) = _FOOTER.unpack(_read_exactly(stream, _FOOTER.size, path, offset, "data CRC"))
            if masked_crc32c(data) != data_crc:
                raise TFRecordError(f"{path}: corrupted data of the record at byte {offset} "
                                    f"(bytes {offset + _HEADER.size}..{offset + _HEADER.size + length - 1}; "
                                    "its CRC32C does not match)")
            yield offset, data
            offset += _HEADER.size + length + _FOOTER.size


def frame_record(data: bytes) -> bytes:
    """One record in TFRecord framing, as TensorFlow's writer produces it."""
    length = struct.pack("<Q", len(data))
    return length + _FOOTER.pack(masked_crc32c(length)) + data + _FOOTER.pack(masked_crc32c(data))


def write_records(path: Path | str, records: Iterable[bytes]) -> None:
    with open(path, "wb") as stream:
        for data in records:
            stream.write(frame_record(data))


# ---------------------------------------------------------------------------------------------
# Protobuf wire format

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5


class ProtobufError(InvalidFileError):
    """Bytes that are not a well-formed protobuf message."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data):
            raise ProtobufError(f"varint runs past the end of the message at byte {pos}")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError(f"varint longer than 10 bytes ending at byte {pos}")


def decode_fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, raw value) of every field of a message, in order.

    Varints come as ints, 64- and 32-bit fields and length-delimited fields as their bytes.
    """
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise ProtobufError(f"field number 0 at byte {pos}")
        if wire_type == VARINT:
            value, pos = _varint(data, pos)
        elif wire_type in (FIXED64, FIXED32, LENGTH_DELIMITED):
            if wire_type == LENGTH_DELIMITED:
                size, pos = _varint(data, pos)
            else:
                size = 8 if wire_type == FIXED64 else 4
            if pos + size > len(data):
                raise ProtobufError(f"field {number} at byte {pos} runs past the end of the message")
            value, pos = data[pos:pos + size], pos + size
        else:
            raise ProtobufError(f"field {number} has unsupported wire type {wire_type} (groups are not handled)")
        yield number, wire_type, value


def as_double(value: int | bytes, number: int) -> float:
    if not isinstance(value, bytes) or len(value) != 8:
        raise ProtobufError(f"field {number} should be a double (64-bit wire type)")
    return struct.unpack("<d", value)[0]


def as_int32(value: int | bytes, number: int) -> int:
    if not isinstance(value, int):
        raise ProtobufError(f"field {number} should be a varint")
    return value - (1 << 64) if value >= 1 << 63 else value


def as_string(value: int | bytes, number: int) -> str:
    if not isinstance(value, bytes):
        raise ProtobufError(f"field {number} should be length-delimited")
    return value.decode("utf-8")


def as_message(value: int | bytes, number: int) -> bytes:
    if not isinstance(value, bytes):
        raise ProtobufError(f"field {number} should be an embedded message")
    return value
