// Small number helpers shared by the kernel geometry (strides, dilations), the network merges and
// the parsers of numbers users type (flags, config, input ranges).

/** Greatest common divisor of two non-negative integers (gcd(a, 0) = a). */
export function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** A decimal number as written (Number() alone also takes '0x10', '0b1', 'Infinity' and ''), else NaN. */
export function decimal(value: string): number {
  return /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(value) ? Number(value) : Number.NaN;
}
