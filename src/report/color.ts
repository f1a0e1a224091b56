// Whether a stream gets colour. Decided here once, then handed to chalk as an explicit level,
// because chalk's own detection honours FORCE_COLOR but not NO_COLOR and only looks at stdout.
import { Chalk, type ChalkInstance } from 'chalk';

export interface ColorInputs {
  /** --color (true) / --no-color (false) / neither (undefined). */
  flag: boolean | undefined;
  env: Record<string, string | undefined>;
  isTTY: boolean;
}

/**
 * Precedence: --no-color / --color, then FORCE_COLOR (0/false = off, anything else = on,
 * 2/3 = more colours), then NO_COLOR (any non-empty value = off), then "is the stream a TTY"
 * (TERM=dumb = off).
 */
export function colorLevel({ flag, env, isTTY }: ColorInputs): 0 | 1 | 2 | 3 {
  if (flag === false) return 0;
  if (flag === true) return 1;
  const force = env.FORCE_COLOR;
  if (force !== undefined) {
    if (force === '0' || force === 'false') return 0;
    const n = Number.parseInt(force, 10);
    return n === 2 || n === 3 ? n : 1;
  }
  if (env.NO_COLOR) return 0;
  if (!isTTY || env.TERM === 'dumb') return 0;
  return 1;
}

export function chalkFor(inputs: ColorInputs): ChalkInstance {
  return new Chalk({ level: colorLevel(inputs) });
}
