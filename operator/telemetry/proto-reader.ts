// A minimal protobuf wire-format reader: just what decoding OTLP needs, with every read checked
// against the end of the enclosing message so that truncated or hostile input throws an
// OtlpDecodeError instead of reading garbage or crashing. Offsets are absolute positions in one
// Buffer; nested messages are read by passing their end offset, so nothing is copied.
import { OtlpDecodeError } from './span.ts';

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LENGTH_DELIMITED = 2;
export const WIRE_START_GROUP = 3;
export const WIRE_END_GROUP = 4;
export const WIRE_FIXED32 = 5;

/** Deprecated groups can nest; hostile input could nest them until the stack overflows. */
const MAX_GROUP_DEPTH = 32;
const TWO_POW_32 = 4294967296;

function truncated(): OtlpDecodeError {
  return new OtlpDecodeError('truncated protobuf: a field runs past the end of its message');
}

export class ProtoReader {
  readonly buf: Buffer;
  pos = 0;

  constructor(buf: Buffer) {
    this.buf = buf;
  }

  /** Reads a varint and keeps its low 32 bits, unsigned (tags, lengths, enums, bools). */
  uint32(end: number): number {
    const buf = this.buf;
    let pos = this.pos;
    if (pos >= end) throw truncated();
    let b = buf[pos++]!;
    if (b < 0x80) {
      this.pos = pos;
      return b;
    }
    let value = b & 0x7f;
    for (let shift = 7; shift < 70; shift += 7) {
      if (pos >= end) throw truncated();
      b = buf[pos++]!;
      if (shift < 32) value |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        return value >>> 0;
      }
    }
    throw new OtlpDecodeError('malformed protobuf: varint longer than 10 bytes');
  }

  /** Reads an int64 varint as a number (two's complement; exact up to 2^53 in magnitude). */
  int64(end: number): number {
    const buf = this.buf;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (pos >= end) throw truncated();
      const b = buf[pos++]!;
      const bits = b & 0x7f;
      if (shift < 28) lo |= bits << shift;
      else if (shift === 28) {
        lo |= bits << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (shift - 32);
      if (b < 0x80) {
        this.pos = pos;
        return (hi | 0) * TWO_POW_32 + (lo >>> 0);
      }
    }
    throw new OtlpDecodeError('malformed protobuf: varint longer than 10 bytes');
  }

  /** Reads the length prefix of a length-delimited field and returns the field's end offset. */
  lengthEnd(end: number): number {
    const length = this.uint32(end);
    if (length > end - this.pos) throw truncated();
    return this.pos + length;
  }

  /** Reads 4 little-endian bytes as an unsigned number. */
  fixed32(end: number): number {
    if (end - this.pos < 4) throw truncated();
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  double(end: number): number {
    if (end - this.pos < 8) throw truncated();
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /** Reads a field tag; rejects field number 0, which no valid message contains. */
  tag(end: number): number {
    const tag = this.uint32(end);
    if (tag >>> 3 === 0) throw new OtlpDecodeError('malformed protobuf: field number 0');
    return tag;
  }

  /** Skips the value of a field we do not decode, whatever its wire type. */
  skip(tag: number, end: number, depth = 0): void {
    switch (tag & 7) {
      case WIRE_VARINT:
        this.int64(end);
        return;
      case WIRE_FIXED64:
        if (end - this.pos < 8) throw truncated();
        this.pos += 8;
        return;
      case WIRE_LENGTH_DELIMITED:
        this.pos = this.lengthEnd(end);
        return;
      case WIRE_FIXED32:
        if (end - this.pos < 4) throw truncated();
        this.pos += 4;
        return;
      case WIRE_START_GROUP: {
        if (depth >= MAX_GROUP_DEPTH) throw new OtlpDecodeError('malformed protobuf: groups nested too deeply');
        const field = tag >>> 3;
        for (;;) {
          const inner = this.tag(end);
          if ((inner & 7) === WIRE_END_GROUP) {
            if (inner >>> 3 !== field) throw new OtlpDecodeError('malformed protobuf: mismatched end of group');
            return;
          }
          this.skip(inner, end, depth + 1);
        }
      }
      case WIRE_END_GROUP:
        throw new OtlpDecodeError('malformed protobuf: end of group without a start');
      default:
        throw new OtlpDecodeError(`malformed protobuf: invalid wire type ${tag & 7}`);
    }
  }
}
