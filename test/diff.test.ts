// `lipcheck diff`: layer matching, ratios b / a on checkpoints whose weights differ by known factors,
// the growth gate's exit codes, unmatched layers, the three formats, and input errors.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Chalk } from 'chalk';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDiffReport } from '../src/diff/build.js';
import { matchLayers } from '../src/diff/match.js';
import { renderDiffTable } from '../src/diff/render.js';
import type { DiffReport } from '../src/diff/types.js';
import { chainCheckpoint as chain } from './helpers/checkpoints.js';
import { runInProcess, type CliRun } from './helpers/cli-models.js';
import { boundsFor, convLayer, makeReport, unsupportedLayer } from './helpers/report-inputs.js';
import { tempDir } from './helpers/tmp.js';

let dir: string;
const run = (args: string[]) => runInProcess(['diff', ...args], { cwd: dir });
const json = (r: CliRun) => JSON.parse(r.stdout) as DiffReport;

beforeAll(async () => {
  dir = tempDir('lipcheck-diff');
  // Powers of two: scaling is exact in floating point, so every scale-equivariant method's ratio is exact.
  const files: Record<string, Uint8Array> = {
    'a.onnx': chain(),
    'b.onnx': chain({ scale: { conv1: 2, conv2: 1, fc: 4 } }),
    'renamed.onnx': chain({ names: { conv2: 'block2/conv' } }),
    'reshaped.onnx': chain({ fcOut: 5, names: { fc: 'head' } }),
  };
  for (const [name, bytes] of Object.entries(files)) await writeFile(path.join(dir, name), bytes);
  await writeFile(path.join(dir, 'broken.onnx'), 'not a model\n');
});

describe('matchLayers', () => {
  const key = (name: string, shape: number[], op = 'Conv') => ({ name, op, weightShape: shape });
  it('matches by unique name first, then the rest by order and shape, and lists the leftovers', () => {
    const a = [key('c1', [8, 3, 3, 3]), key('c2', [8, 8, 3, 3]), key('c3', [8, 8, 3, 3]), key('fc', [10, 8], 'Gemm')];
    const b = [key('c1', [8, 3, 3, 3]), key('x', [8, 8, 3, 3]), key('y', [8, 8, 3, 3]), key('head', [12, 8], 'Gemm')];
    expect(matchLayers(a, b)).toEqual({
      pairs: [
        { a: 0, b: 0, matchedBy: 'name' },
        { a: 1, b: 1, matchedBy: 'order+shape' },
        { a: 2, b: 2, matchedBy: 'order+shape' },
      ],
      unmatchedA: [3],
      unmatchedB: [3],
    });
  });

  it('keeps order around a name match and never pairs duplicated names by name', () => {
    const a = [key('dup', [4, 4, 1, 1]), key('dup', [4, 4, 1, 1]), key('z', [2, 2, 1, 1])];
    const b = [key('dup', [4, 4, 1, 1]), key('z', [2, 2, 1, 1]), key('dup', [4, 4, 1, 1])];
    expect(matchLayers(a, b).pairs).toEqual([
      { a: 0, b: 0, matchedBy: 'order+shape' },
      { a: 1, b: 2, matchedBy: 'order+shape' },
      { a: 2, b: 1, matchedBy: 'name' },
    ]);
  });
});

describe('lipcheck diff', () => {
  it('ratios b/a: conv1 x2, conv2 x1, fc x4 exactly; network bound x8 (a plain chain)', async () => {
    const r = await run(['a.onnx', 'b.onnx', '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const d = json(r);
    expect(d).toMatchObject({ schemaVersion: 1, kind: 'diff', tool: { name: 'lipcheck' }, a: { path: 'a.onnx', layerCount: 3 }, b: { path: 'b.onnx', layerCount: 3 } });
    expect(d.layers.map((l) => [l.name, l.matchedBy])).toEqual([['conv1', 'name'], ['conv2', 'name'], ['fc', 'name']]);
    const expected = [2, 1, 4];
    d.layers.forEach((l, i) => {
      expect(Math.abs(l.ratio! / expected[i] - 1)).toBeLessThan(1e-6);
      expect(Math.abs(l.b.best! / l.a.best! / expected[i] - 1)).toBeLessThan(1e-6);
      // power iteration is scale-equivariant too (same seed, same normalised iterates)
      expect(Math.abs(l.ratios.power! / expected[i] - 1)).toBeLessThan(1e-6);
    });
    for (const l of d.layers.slice(0, 2)) {
      for (const m of ['toeplitz', 'spectral', 'frobenius'] as const) {
        expect(Math.abs(l.ratios[m]! / expected[d.layers.indexOf(l)] - 1)).toBeLessThan(1e-6);
      }
    }
    expect(Math.abs(d.network.ratio! / 8 - 1)).toBeLessThan(1e-6);
    expect(d.network.gated).toBe('graph');
    expect(d.network.b! / d.network.a!).toBeCloseTo(d.network.ratio!, 12);
    expect(d.grewMost.map((g) => g.name)).toEqual(['fc', 'conv1']); // conv2 did not grow
    expect(d.unmatched).toEqual({ a: [], b: [] });
    expect(d.gate).toEqual({ maxGrowth: null, passed: true, failures: [] });
  });

  it('--max-growth: exit 1 listing every offender on stderr, exit 0 within the limit', async () => {
    const [tight, mid, loose] = await Promise.all([
      run(['a.onnx', 'b.onnx', '--max-growth', '1.5', '--json']),
      run(['a.onnx', 'b.onnx', '--max-growth', '5']),
      run(['a.onnx', 'b.onnx', '--max-growth', '10']),
    ]);
    expect(tight.code).toBe(1);
    expect(json(tight).gate.failures.map((f) => f.name ?? 'network')).toEqual(['network', 'conv1', 'fc']);
    expect(tight.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^lipcheck: growth exceeded: network: network bound grew 8\.000x > max growth 1\.500x$/),
      expect.stringMatching(/^lipcheck: growth exceeded: conv1: best bound grew 2\.000x > max growth 1\.500x$/),
      expect.stringMatching(/^lipcheck: growth exceeded: fc: best bound grew 4\.000x > max growth 1\.500x$/),
    ]);
    // 5: fc (4) and conv1 (2) pass, the network (8) does not
    expect(mid.code).toBe(1);
    expect(mid.stderr).toMatch(/^lipcheck: growth exceeded: network: .*\n$/);
    expect(mid.stdout).toMatch(/growth over 5\.000x: 1 failure/);
    expect(loose.code).toBe(0);
    expect(loose.stderr).toBe('');
    expect(loose.stdout).toMatch(/growth within 10\.00x/);
  });

  it('GITHUB_ACTIONS=true: each growth failure is an ::error annotation, the markdown diff goes to the step summary', async () => {
    const summary = path.join(dir, 'diff-summary.md');
    await writeFile(summary, '');
    const r = await runInProcess(['diff', 'a.onnx', 'b.onnx', '--max-growth', '1.5', '--json'], { cwd: dir, env: { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary } });
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('::'))).toEqual(json(r).gate.failures.map((f) => `::error title=lipcheck::growth exceeded: ${f.name ?? 'network'}: ${f.reason}`));
    expect(await readFile(summary, 'utf8')).toMatch(/^❌ \*\*lipcheck diff: growth over 1\.500x\*\* \(3\)/);
  });

  it('a renamed layer is matched by order and shape, and the report says so', async () => {
    const r = await run(['a.onnx', 'renamed.onnx', '--json', '--max-growth', '1.000001']);
    expect(r.code).toBe(0);
    const d = json(r);
    expect(d.layers.map((l) => [l.name, l.matchedBy, l.a.name])).toEqual([
      ['conv1', 'name', 'conv1'],
      ['block2/conv', 'order+shape', 'conv2'],
      ['fc', 'name', 'fc'],
    ]);
    expect(d.layers[1].notes).toContain('renamed: conv2 in a');
    for (const l of d.layers) expect(Math.abs(l.ratio! - 1)).toBeLessThan(1e-9);
    const table = await run(['a.onnx', 'renamed.onnx']);
    expect(table.stdout).toMatch(/│ block2\/conv +│ order\+shape \(a: conv2\) +│/);
  });

  it('unmatched layers are listed (JSON, table, stderr), never dropped', async () => {
    const r = await run(['a.onnx', 'reshaped.onnx', '--json']);
    expect(r.code).toBe(0);
    const d = json(r);
    expect(d.layers.map((l) => l.name)).toEqual(['conv1', 'conv2']);
    expect(d.unmatched.a).toEqual([expect.objectContaining({ index: 2, name: 'fc', op: 'Gemm', weightShape: [4, 72] })]);
    expect(d.unmatched.b).toEqual([expect.objectContaining({ index: 2, name: 'head', op: 'Gemm', weightShape: [5, 72] })]);
    expect(r.stderr).toBe('lipcheck: warning: 2 unmatched layers: fc (only in a), head (only in b)\n');
    const table = await run(['a.onnx', 'reshaped.onnx', '--quiet']);
    expect(table.stderr).toBe('');
    expect(table.stdout).toMatch(/only in a: fc \(Gemm 4x72, #3, best /);
    expect(table.stdout).toMatch(/only in b: head \(Gemm 5x72, #3, best /);
  });

  it('--format markdown: a verdict line and a GFM table', async () => {
    const r = await run(['a.onnx', 'b.onnx', '--format', 'markdown', '--max-growth', '10']);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^✅ \*\*lipcheck diff: growth within 10\.00x\*\* · network 8\.000x · 3 matched, 0 unmatched$/);
    expect(lines[2]).toBe('| Layer | Matched by | Op | Kernel | Best a | Best b | b/a | toeplitz b/a | spectral b/a | power b/a | frobenius b/a |');
    expect(lines.filter((l) => l.startsWith('| conv') || l.startsWith('| fc'))).toHaveLength(3);
  });

  it('bad input: exit 2 with one stderr line', async () => {
    const cases: [string[], RegExp][] = [
      [['a.onnx', 'missing.onnx'], /^lipcheck: missing\.onnx: /],
      [['a.onnx', 'broken.onnx'], /^lipcheck: broken\.onnx: /],
      [['a.onnx'], /^lipcheck diff: missing required argument 'b'/],
      [['a.onnx', 'b.onnx', '--max-growth', '-1'], /^lipcheck diff: .*--max-growth.*positive number/],
      [['a.onnx', 'b.onnx', '--format', 'html'], /Allowed choices are table, json, markdown/],
      [['a.onnx', 'b.onnx', '--json', '--format', 'table'], /--json conflicts with --format table/],
    ];
    for (const [args, pattern] of cases) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
    }
  });

  it('the table paints offending rows red only with colour on', async () => {
    const d = json(await run(['a.onnx', 'b.onnx', '--json', '--max-growth', '1.5']));
    const plain = renderDiffTable(d, new Chalk({ level: 0 }));
    expect(plain).not.toMatch(/\x1b\[/);
    const coloured = renderDiffTable(d, new Chalk({ level: 1 }));
    expect(coloured.split('\n').find((l) => l.includes('conv1'))).toContain('\x1b[31m');
    expect(coloured.split('\n').find((l) => l.includes('conv2'))).not.toContain('\x1b[31m');
  });
});

describe('buildDiffReport', () => {
  it('a ratio that cannot be computed fails the gate; without a certified network bound the naive ratio is gated', () => {
    const conv = convLayer('c');
    const bad = unsupportedLayer('q', 'QLinearConv');
    const a = makeReport([conv, bad], [boundsFor(conv, { spectral: 2 }), boundsFor(bad, {})]);
    const b = makeReport([conv, bad], [boundsFor(conv, { spectral: 3 }), boundsFor(bad, {})]);
    const d = buildDiffReport({ toolVersion: '0', a, b, maxGrowth: 2, totalMs: 1, warnings: [] });
    expect(d.layers.map((l) => [l.name, l.ratio, l.gate?.passed])).toEqual([['c', 1.5, true], ['q', null, false]]);
    expect(d.layers[1].gate?.reason).toBe('no ratio: unsupported (QLinearConv)');
    // the unsupported layer leaves both networks uncertified and both naive products null: no network ratio at all
    expect(d.network).toMatchObject({ a: null, b: null, ratio: null, gated: null });
    expect(d.gate.failures.map((f) => [f.scope, f.name])).toEqual([['network', null], ['layer', 'q']]);

    const net = (bound: number | null, naive: number) => ({ bound, naiveProduct: naive, certified: bound !== null, method: 'graph' as const, graphBound: bound, blocks: [], uncertifiedOps: [], uncertifiedNodes: [], notes: [], perOutput: [] });
    const a2 = makeReport([conv], [boundsFor(conv, { spectral: 2 })], { network: net(null, 2) });
    const b2 = makeReport([conv], [boundsFor(conv, { spectral: 2.5 })], { network: net(9, 2.5) });
    const d2 = buildDiffReport({ toolVersion: '0', a: a2, b: b2, maxGrowth: 1.2, totalMs: 1, warnings: [] });
    expect(d2.network).toMatchObject({ a: null, b: 9, ratio: null, naiveRatio: 1.25, gated: 'naive' });
    expect(d2.gate.failures.map((f) => [f.scope, f.reason])).toEqual([
      ['network', 'network (naive product) grew 1.250x > max growth 1.200x'],
      ['layer', 'best bound grew 1.250x > max growth 1.200x'],
    ]);
  });
});
