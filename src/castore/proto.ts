/**
 * The few protobuf primitives castore needs, hand-rolled so the bytes are exactly prost's
 * canonical output (fields in number order, proto3 defaults omitted, minimal varints; §1.3).
 * A general protobuf library is not used on purpose: the digest depends on every byte.
 */
import { CastoreDecodeError } from './errors.ts'

export const WIRE_VARINT = 0
export const WIRE_LEN = 2

/** Growable output buffer. */
export class ProtoWriter {
  private buf: Uint8Array
  private pos = 0

  constructor (initial = 256) {
    this.buf = new Uint8Array(initial)
  }

  private ensure (n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
  }

  varint (value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`varint out of range: ${value}`)
    this.ensure(10)
    // values up to 2^53 need care: >>> only works on 32 bits
    while (value >= 0x80) {
      this.buf[this.pos++] = (value % 0x80) | 0x80
      value = Math.floor(value / 0x80)
    }
    this.buf[this.pos++] = value
  }

  tag (field: number, wireType: number): void {
    this.varint((field << 3) | wireType)
  }

  /** Length-delimited field; omitted when empty (proto3 default) unless `always`. */
  bytesField (field: number, value: Uint8Array, always = false): void {
    if (value.byteLength === 0 && !always) return
    this.tag(field, WIRE_LEN)
    this.varint(value.byteLength)
    this.ensure(value.byteLength)
    this.buf.set(value, this.pos)
    this.pos += value.byteLength
  }

  /** uint64 field, omitted when 0. */
  uintField (field: number, value: number): void {
    if (value === 0) return
    this.tag(field, WIRE_VARINT)
    this.varint(value)
  }

  /** bool field, omitted when false. */
  boolField (field: number, value: boolean): void {
    if (!value) return
    this.tag(field, WIRE_VARINT)
    this.varint(1)
  }

  finish (): Uint8Array {
    return this.buf.slice(0, this.pos)
  }
}

export interface ProtoField {
  field: number
  wireType: number
  /** for varint fields */
  value: number
  /** for length-delimited fields (a view into the input) */
  bytes: Uint8Array
}

/** Iterates the fields of one message; rejects anything but varint and length-delimited. */
export function * readFields (buf: Uint8Array): Generator<ProtoField> {
  let pos = 0
  const readVarint = (): number => {
    let result = 0
    let mul = 1
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new CastoreDecodeError('truncated varint')
      const b = buf[pos++]
      result += (b & 0x7f) * mul
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(result)) throw new CastoreDecodeError('varint exceeds 2^53')
        if (i > 0 && b === 0) throw new CastoreDecodeError('non-minimal varint')
        return result
      }
      mul *= 0x80
    }
    throw new CastoreDecodeError('varint longer than 10 bytes')
  }
  while (pos < buf.length) {
    const key = readVarint()
    const field = Math.floor(key / 8)
    const wireType = key % 8
    if (field === 0) throw new CastoreDecodeError('field number 0')
    if (wireType === WIRE_VARINT) {
      yield { field, wireType, value: readVarint(), bytes: EMPTY }
    } else if (wireType === WIRE_LEN) {
      const len = readVarint()
      if (len > buf.length - pos) throw new CastoreDecodeError(`length ${len} runs past the end of the message`)
      yield { field, wireType, value: 0, bytes: buf.subarray(pos, pos + len) }
      pos += len
    } else {
      throw new CastoreDecodeError(`unsupported wire type ${wireType} for field ${field}`)
    }
  }
}

const EMPTY = new Uint8Array(0)
