// Bit-level decoding of 16-bit float formats (pure numeric, no I/O).

/** IEEE 754 binary16 bits -> number (exact: every half value is a float32). */
export function halfBitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Decode binary16 bit patterns into a new Float32Array. */
export function halfToFloat32(bits: ArrayLike<number>): Float32Array {
  // A 64 Ki lookup table beats per-element arithmetic for the large tensors this is used on.
  const table = halfTable();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i] & 0xffff];
  return out;
}

let cachedHalfTable: Float32Array | null = null;
function halfTable(): Float32Array {
  if (!cachedHalfTable) {
    cachedHalfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) cachedHalfTable[h] = halfBitsToNumber(h);
  }
  return cachedHalfTable;
}

/** Decode bfloat16 bit patterns (the top half of a float32) into a new Float32Array. */
export function bfloat16ToFloat32(bits: ArrayLike<number>): Float32Array {
  const out = new Float32Array(bits.length);
  const asInt = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) asInt[i] = (bits[i] & 0xffff) << 16;
  return out;
}
