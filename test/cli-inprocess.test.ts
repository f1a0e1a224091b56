// The CLI called in-process with fake streams: what a spawned process cannot show
// (a TTY progress line) and the internal-error path (exit 3).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import type { CliIO } from '../src/cli/shared.js';
import { chainModel } from './helpers/cli-models.js';
import { tempDir } from './helpers/tmp.js';

interface FakeIO extends CliIO {
  out: string[];
  err: string[];
}

function fakeIO(cwd: string, opts: { tty?: boolean; failWrite?: boolean } = {}): FakeIO {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    cwd,
    env: {},
    stdout: {
      isTTY: opts.tty,
      write: (t: string) => {
        if (opts.failWrite) throw new Error('write failed unexpectedly');
        out.push(t);
      },
    },
    stderr: { isTTY: opts.tty, columns: 60, write: (t: string) => err.push(t) },
  };
}

let dir: string;
beforeAll(async () => {
  dir = tempDir('lipcheck-inproc');
  await writeFile(path.join(dir, 'chain.onnx'), chainModel());
});

const argv = (...args: string[]) => ['node', 'lipcheck', ...args];

describe('main() in-process', () => {
  it('on a TTY, stderr gets a progress line rewritten in place and cleared before the report', async () => {
    const io = fakeIO(dir, { tty: true });
    expect(await main(argv('chain.onnx', '--methods', 'spectral'), io)).toBe(0);
    expect(io.err).toContain('\r\x1b[2Klipcheck: loading chain.onnx');
    expect(io.err.some((t) => /^\r\x1b\[2Klipcheck: \[1\/2\] conv1 \([^)]+ elapsed, ~[^)]+ left\)$/.test(t))).toBe(true);
    expect(io.err.some((t) => /^\r\x1b\[2Klipcheck: \[2\/2\] fc \([^),]+ elapsed\)$/.test(t))).toBe(true);
    expect(io.err[io.err.length - 1]).toBe('\r\x1b[2K');
    expect(io.err.every((t) => t.startsWith('\r\x1b[2K'))).toBe(true);
    expect(io.out.join('')).toMatch(/│ conv1 /);
    // stdout is a TTY and no colour variable is set: colour on.
    expect(io.out.join('')).toMatch(/\x1b\[1m/);
  });

  it('--quiet: no progress even on a TTY', async () => {
    const io = fakeIO(dir, { tty: true });
    expect(await main(argv('chain.onnx', '--methods', 'spectral', '--quiet'), io)).toBe(0);
    expect(io.err).toEqual([]);
  });

  it('an unexpected error is an internal error: exit 3, one line with a --debug hint', async () => {
    const io = fakeIO(dir, { failWrite: true });
    expect(await main(argv('chain.onnx', '--methods', 'frobenius'), io)).toBe(3);
    expect(io.err).toEqual(['lipcheck: internal error: write failed unexpectedly (rerun with --debug for the stack trace, and please report it)\n']);
    const debug = fakeIO(dir, { failWrite: true });
    expect(await main(argv('chain.onnx', '--methods', 'frobenius', '--debug'), debug)).toBe(3);
    expect(debug.err.join('')).toMatch(/internal error: Error: write failed unexpectedly\n\s+at /);
  });

  it('--help writes to the given stdout and returns 0', async () => {
    const io = fakeIO(dir);
    expect(await main(argv('--help'), io)).toBe(0);
    expect(io.out.join('')).toMatch(/Budgets gate each layer's best/);
  });
});
