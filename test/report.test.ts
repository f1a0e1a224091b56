// Reporters, budgets and the JSON contract on hand-made engine results (no loader, no engine).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { loadBudgetConfig, parseBudgetConfig } from '../src/report/budget.js';
import { colorLevel } from '../src/report/color.js';
import { formatDuration, formatNumber, formatShape, formatStrideDilationGroup } from '../src/report/format.js';
import { REPORT_JSON_SCHEMA } from '../src/report/json-schema.js';
import { renderJson } from '../src/report/json.js';
import { renderMarkdown } from '../src/report/markdown.js';
import { renderTable } from '../src/report/table.js';
import { compileNamePattern } from '../src/util/name-pattern.js';
import { validateJsonSchema } from './helpers/json-schema.js';
import { boundsFor, convLayer, denseLayer, makeReport, unsupportedLayer } from './helpers/report-inputs.js';
import { tempDir } from './helpers/tmp.js';

const ANSI = /\x1b\[/;
const RED = '\x1b[31m';

// conv: spectral 1.8 is its best; dense: every upper method gives 1.25 (a dense layer's norm).
const conv = convLayer('features.0/conv');
const dense = denseLayer('fc');
const convBounds = boundsFor(conv, { toeplitz: 2.5, spectral: 1.8, power: 1.75, frobenius: 4 });
const denseBounds = boundsFor(dense, { toeplitz: 1.25, spectral: 1.25, power: 1.25, frobenius: 1.25 });

describe('format', () => {
  it('prints 4 significant digits, keeping trailing zeros, exponent form outside [1e-3, 1e4)', () => {
    expect(formatNumber(1.23456)).toBe('1.235');
    expect(formatNumber(1)).toBe('1.000');
    expect(formatNumber(123.456)).toBe('123.5');
    expect(formatNumber(9999.4)).toBe('9999');
    expect(formatNumber(9999.7)).toBe('1.000e4');
    expect(formatNumber(12345.6)).toBe('1.235e4');
    expect(formatNumber(0.00123456)).toBe('0.001235');
    expect(formatNumber(0.000123456)).toBe('1.235e-4');
    expect(formatNumber(0)).toBe('0');
    expect(formatNumber(null)).toBe('—');
    expect(formatNumber(Number.NaN)).toBe('—');
  });

  it('formats shapes, axes and durations', () => {
    expect(formatShape([64, 3, 7, 7])).toBe('64x3x7x7');
    expect(formatShape(null)).toBe('?');
    expect(formatStrideDilationGroup([2, 2], [1, 1], 32)).toBe('2/1/32');
    expect(formatStrideDilationGroup([2, 1], [1, 3], 1)).toBe('2x1/1x3/1');
    expect(formatStrideDilationGroup(null, null, null)).toBe('—');
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(1234)).toBe('1.23 s');
    expect(formatDuration(125_000)).toBe('2 min 5 s');
  });
});

describe('name patterns', () => {
  it('globs match the whole name, * crosses /, ? is one character', () => {
    const glob = compileNamePattern('features.*');
    expect(glob('features.0/conv')).toBe(true);
    expect(glob('xfeatures.0')).toBe(false);
    expect(glob('featuresX0')).toBe(false); // '.' is literal
    expect(compileNamePattern('conv?')('conv1')).toBe(true);
    expect(compileNamePattern('conv?')('conv12')).toBe(false);
    expect(compileNamePattern('/Conv_\\d+$/')('/model/Conv_12')).toBe(true);
    expect(compileNamePattern('/^conv/i')('CONV1')).toBe(true);
    expect(compileNamePattern('/^conv/g')('conv1') && compileNamePattern('/^conv/g')('conv1')).toBe(true);
    expect(() => compileNamePattern('/(/')).toThrow(/invalid regular expression/);
  });
});

describe('buildReport', () => {
  it('fills every key, the best bound, tightness and the network bound', () => {
    const r = makeReport([conv, dense], [convBounds, denseBounds]);
    const [c, d] = r.layers;
    expect(c.bounds).toEqual({ toeplitz: 2.5, spectral: 1.8, power: 1.75, frobenius: 4 });
    expect(c.best).toBe(1.8);
    expect(c.bestMethod).toBe('spectral');
    expect(c.tightness).toBeCloseTo(1.8 / 1.75, 14);
    expect(c.weightShape).toEqual([4, 3, 3, 3]);
    expect(c.strides).toEqual([1, 1]);
    expect(c.details.power).toMatchObject({ kind: 'lower', ms: 1.5, iterations: 12, converged: true, error: null });
    expect(d.strides).toBeNull();
    expect(d.group).toBeNull();
    expect(r.network.bound).toBeCloseTo(2.25, 14); // 1.8 * 1.25
    expect(r.network).toMatchObject({ method: 'graph', certified: true, naiveProduct: 2.25, uncertifiedOps: [], layerCount: 2, perOutput: [{ name: 'y', bound: 2.25 }] });
    expect(r.budget).toEqual({ limit: null, passed: true, failures: [] });
    expect(validateJsonSchema(REPORT_JSON_SCHEMA, JSON.parse(renderJson(r)))).toEqual([]);
  });

  it('an unsupported layer leaves the network without a certified bound and is named', () => {
    const bad = unsupportedLayer('conv3d', '3-D convolution');
    const r = makeReport([conv, bad, dense], [convBounds, boundsFor(bad, {}), denseBounds]);
    expect(r.network.bound).toBeNull();
    expect(r.network.certified).toBe(false);
    expect(r.network.naiveProduct).toBeNull();
    expect(r.network.uncertifiedOps).toEqual(['Conv (conv3d)']);
    expect(r.layers[1]).toMatchObject({ kind: 'unsupported', unsupportedReason: '3-D convolution', best: null, weightShape: null });
    expect(validateJsonSchema(REPORT_JSON_SCHEMA, JSON.parse(renderJson(r)))).toEqual([]);
  });

  it('turns NaN / Infinity / failed methods into null with a note', () => {
    const b = boundsFor(conv, { toeplitz: Number.NaN, spectral: Number.POSITIVE_INFINITY, power: null, frobenius: 4 }, { power: 'onnxruntime failed' });
    b.methods.toeplitz!.details.grid = Number.NaN;
    const r = makeReport([conv], [b]);
    const l = r.layers[0];
    expect(l.bounds).toEqual({ toeplitz: null, spectral: null, power: null, frobenius: 4 });
    expect(l.best).toBe(4);
    expect(l.tightness).toBeNull();
    expect(l.details.toeplitz!.grid).toBeNull();
    expect(l.details.power!.error).toBe('onnxruntime failed');
    expect(l.notes).toEqual(['toeplitz: non-finite value NaN reported as null', 'spectral: non-finite value Infinity reported as null', 'power: onnxruntime failed']);
    expect(validateJsonSchema(REPORT_JSON_SCHEMA, JSON.parse(renderJson(r)))).toEqual([]);
  });

  it('a --layers subset gets no network bound', () => {
    const r = makeReport([conv], [convBounds], { totalLayers: 2 });
    expect(r.network.bound).toBeNull();
    expect(r.network.naiveProduct).toBe(1.8);
    expect(r.network.notes.join('\n')).toMatch(/selected 1 of 2 layers/);
  });

  it('refuses engine results that do not line up with the layers', () => {
    expect(() => makeReport([conv, dense], [convBounds])).toThrow(/2 layers/);
    expect(() => makeReport([dense], [convBounds])).toThrow(/does not match/);
  });
});

describe('budgets', () => {
  it('--layer-budget gates each layer best; every offender is listed', () => {
    const r = makeReport([conv, dense], [convBounds, denseBounds], { flags: { layerBudget: 1.5 } });
    expect(r.layers[0].budget).toMatchObject({ limit: 1.5, value: 1.8, passed: false, source: '--layer-budget' });
    expect(r.layers[0].budget!.reason).toBe('best certified bound 1.800 > budget 1.500 (--layer-budget)');
    expect(r.layers[1].budget).toMatchObject({ value: 1.25, passed: true, reason: null });
    expect(r.budget.passed).toBe(false);
    expect(r.budget.failures).toEqual([{ scope: 'layer', name: 'features.0/conv', value: 1.8, limit: 1.5, reason: r.layers[0].budget!.reason }]);
    expect(validateJsonSchema(REPORT_JSON_SCHEMA, JSON.parse(renderJson(r)))).toEqual([]);
  });

  it('a budget equal to the bound passes (<=)', () => {
    const r = makeReport([conv], [convBounds], { flags: { layerBudget: 1.8 } });
    expect(r.budget.passed).toBe(true);
  });

  it('--budget gates the network product', () => {
    const ok = makeReport([conv, dense], [convBounds, denseBounds], { flags: { budget: 2.25 } });
    expect(ok.budget).toEqual({ limit: 2.25, passed: true, failures: [] });
    const over = makeReport([conv, dense], [convBounds, denseBounds], { flags: { budget: 2 } });
    expect(over.budget.failures).toEqual([{ scope: 'network', name: null, value: 2.25, limit: 2, reason: 'network bound 2.250 > budget 2.000 (--budget)' }]);
  });

  it('a budget on something without a certified bound fails (the gate never passes what it cannot verify)', () => {
    const bad = unsupportedLayer('odd', 'ConvInteger');
    const r = makeReport([conv, bad], [convBounds, boundsFor(bad, {})], { flags: { layerBudget: 10, budget: 100 } });
    expect(r.layers[0].budget!.passed).toBe(true);
    expect(r.layers[1].budget).toMatchObject({ passed: false, value: null, reason: 'unsupported (ConvInteger): no bound to check' });
    expect(r.budget.failures.map((f) => f.name)).toEqual([null, 'odd']);
  });

  it('config patterns: first match wins over layerBudget; flags win over config; budgetMethod picks the gated number', () => {
    const config = parseBudgetConfig({ layerBudget: 1, layers: { 'features.*': 2, '/conv/': 0.5 }, budgetMethod: 'toeplitz' }, 'lipcheck.config.json');
    const r = makeReport([conv, dense], [convBounds, denseBounds], { config });
    // conv: pattern features.* (2) gates toeplitz 2.5 -> over; dense: layerBudget 1 gates toeplitz 1.25 -> over.
    expect(r.layers[0].budget).toMatchObject({ limit: 2, value: 2.5, passed: false, source: 'lipcheck.config.json: layers["features.*"]' });
    expect(r.layers[0].budget!.reason).toMatch(/^toeplitz 2.500 > budget 2.000/);
    expect(r.layers[1].budget).toMatchObject({ limit: 1, value: 1.25, passed: false, source: 'lipcheck.config.json: layerBudget' });
    const flagged = makeReport([conv, dense], [convBounds, denseBounds], { config, flags: { layerBudget: 1.3, budgetMethod: 'spectral' } });
    expect(flagged.layers[0].budget).toMatchObject({ limit: 2, value: 1.8, passed: true });
    expect(flagged.layers[1].budget).toMatchObject({ limit: 1.3, value: 1.25, passed: true, source: '--layer-budget' });
  });

  it('rejects bad config files with a message naming the problem', () => {
    const parse = (raw: unknown) => () => parseBudgetConfig(raw, 'lipcheck.config.json');
    expect(parse({ layerbudget: 1 })).toThrow(/unknown config key "layerbudget"/);
    expect(parse({ budget: -1 })).toThrow(/"budget": expected a positive number, got -1/);
    expect(parse({ budget: '3' })).toThrow(/"budget": expected a positive number/);
    expect(parse({ layers: { conv1: null } })).toThrow(/"layers"\["conv1"\]/);
    expect(parse({ layers: { '/(/': 1 } })).toThrow(/invalid regular expression/);
    expect(parse({ budgetMethod: 'svd' })).toThrow(/budgetMethod/);
    expect(parse([1])).toThrow(InputError);
  });

  it('finds lipcheck.config.json first, then package.json "lipcheck", and requires an explicit --config to exist', async () => {
    const dir = tempDir('lipcheck-config');
    expect(await loadBudgetConfig(dir)).toBeNull();
    await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'x', lipcheck: { budget: 7 } }));
    expect(await loadBudgetConfig(dir)).toMatchObject({ budget: 7, source: 'package.json ("lipcheck")' });
    await writeFile(path.join(dir, 'lipcheck.config.json'), JSON.stringify({ budget: 3 }));
    expect(await loadBudgetConfig(dir)).toMatchObject({ budget: 3, source: 'lipcheck.config.json' });
    await writeFile(path.join(dir, 'other.json'), '{ "budget": ');
    await expect(loadBudgetConfig(dir, 'other.json')).rejects.toThrow(/invalid JSON/);
    await expect(loadBudgetConfig(dir, 'missing.json')).rejects.toMatchObject({ file: 'missing.json', message: 'config file not found' });
  });
});

describe('colour decision', () => {
  const on = (flag: boolean | undefined, env: Record<string, string>, isTTY: boolean) => colorLevel({ flag, env, isTTY });
  it('follows --no-color, --color, FORCE_COLOR, NO_COLOR, then the TTY', () => {
    expect(on(undefined, {}, true)).toBe(1);
    expect(on(undefined, {}, false)).toBe(0);
    expect(on(undefined, { NO_COLOR: '1' }, true)).toBe(0);
    expect(on(undefined, { FORCE_COLOR: '1' }, false)).toBe(1);
    expect(on(undefined, { FORCE_COLOR: '3' }, false)).toBe(3);
    expect(on(undefined, { FORCE_COLOR: '0' }, true)).toBe(0);
    expect(on(undefined, { FORCE_COLOR: '1', NO_COLOR: '1' }, false)).toBe(1);
    expect(on(false, { FORCE_COLOR: '1' }, true)).toBe(0);
    expect(on(true, {}, false)).toBe(1);
    expect(on(undefined, { TERM: 'dumb' }, true)).toBe(0);
  });
});

describe('table', () => {
  const bad = unsupportedLayer('q/conv', 'QLinearConv with per-channel zero points');
  const report = makeReport([conv, dense, bad], [convBounds, denseBounds, boundsFor(bad, {})], { flags: { layerBudget: 1.5 } });

  it('shows one row per layer with 4-digit numbers, the unsupported reason and a footer', () => {
    const text = renderTable(report, new Chalk({ level: 0 }));
    expect(text).not.toMatch(ANSI);
    const lines = text.split('\n');
    const convRow = lines.find((l) => l.includes('features.0/conv'))!;
    const cells = convRow.split('│').map((c) => c.trim()).filter((c) => c !== '');
    expect(cells).toEqual(['features.0/conv', 'Conv', '4x3x3x3', '1/1/1', '3x8x8', '2.500', '1.800', '1.750', '4.000', '1.03x', '██████████', 'over: 1.800 > 1.500']);
    const denseCells = lines.find((l) => l.includes('│ fc '))!.split('│').map((c) => c.trim()).filter((c) => c !== '');
    expect(denseCells).toEqual(['fc', 'Gemm', '10x256', '—', '256', '1.250', '1.250', '1.250', '1.250', '1.00x', '████████▍', 'ok <= 1.500']); // log10(1.8/1.25) = 0.158 of the 1-decade bar: 67/80 eighths
    expect(text).toMatch(/unsupported: QLinearConv with per-channel zero points/);
    expect(text).toMatch(/network bound \(graph walk\): none \(not certified\) +naive product of layer bounds: none/);
    expect(text).toMatch(/not certified because of: .*q\/conv/);
    expect(text).toMatch(/3 layers \(1 unsupported\) in 1\.23 s/);
    expect(text).toMatch(/budget exceeded: 2 failures/);
    expect(text).toMatch(/bars: best bound on a log scale, full = 1\.800 \(largest layer\), empty = 1 decade below/);
    // Numbers are right-aligned: the conv and dense toeplitz cells end at the same column.
    const end = (row: string, value: string) => row.indexOf(value) + value.length;
    expect(end(convRow, '2.500')).toBe(end(lines.find((l) => l.includes('│ fc '))!, '1.250'));
  });

  it('paints over-budget rows red only when colour is on', () => {
    const text = renderTable(report, new Chalk({ level: 1 }));
    const convRow = text.split('\n').find((l) => l.includes('features.0/conv'))!;
    const denseRow = text.split('\n').find((l) => l.includes(' fc '))!;
    expect(convRow).toContain(RED);
    expect(denseRow).not.toContain(`${RED}fc`);
  });

  it('shows only the methods that ran', () => {
    const r = makeReport([conv], [boundsFor(conv, { spectral: 1.8 })], { methods: ['spectral'] });
    const text = renderTable(r, new Chalk({ level: 0 }));
    expect(text).toMatch(/spectral/);
    expect(text).not.toMatch(/toeplitz|frobenius|tightness|budget/);
    expect(text).toMatch(/network bound .*: 1\.800/);
  });
});

describe('markdown', () => {
  it('starts with a one-line verdict and has a GFM table with right-aligned numbers', () => {
    const text = renderMarkdown(makeReport([conv, dense], [convBounds, denseBounds], { flags: { budget: 3 } }));
    const lines = text.split('\n');
    expect(lines[0]).toBe('✅ **lipcheck: within budget** · network bound **2.250** · 2 layers');
    expect(lines[2]).toBe('| Layer | Op | Kernel | s/d/g | Input | toeplitz | spectral | power | frobenius | Tightness |');
    expect(lines[3]).toBe('| --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |');
    expect(lines[4]).toBe('| `features.0/conv` | Conv | 4x3x3x3 | 1/1/1 | 3x8x8 | 2.500 | **1.800** | 1.750 | 4.000 | 1.03× |');
  });

  it('names the failures in the verdict and escapes pipes from layer names', () => {
    const odd = convLayer('a|b');
    const text = renderMarkdown(makeReport([odd, dense], [boundsFor(odd, { spectral: 3 }), boundsFor(dense, { spectral: 1 })], { flags: { layerBudget: 2 }, methods: ['spectral'] }));
    const lines = text.split('\n');
    expect(lines[0]).toBe('❌ **lipcheck: budget exceeded** (1): `a|b` · network bound **3.000** · 2 layers');
    expect(lines[4]).toBe('| `a\\|b` | Conv | 4x3x3x3 | 1/1/1 | 3x8x8 | **3.000** | ❌ best certified bound 3.000 > budget 2.000 (--layer-budget) |');
    expect(lines.every((l) => !l.startsWith('|') || l.split(/(?<!\\)\|/).length === lines[2].split('|').length)).toBe(true);
  });

  it('says when no budget is set', () => {
    expect(renderMarkdown(makeReport([conv], [convBounds])).split('\n')[0]).toBe('ℹ️ **lipcheck**: no budget set · network bound **1.800** · 1 layer');
  });
});

describe('json schema validator (ajv on REPORT_JSON_SCHEMA)', () => {
  const good = JSON.parse(renderJson(makeReport([conv], [convBounds])));
  const broken = (mutate: (r: any) => void) => {
    const copy = structuredClone(good);
    mutate(copy);
    return validateJsonSchema(REPORT_JSON_SCHEMA, copy);
  };

  it('accepts the report it is mutated from', () => {
    expect(validateJsonSchema(REPORT_JSON_SCHEMA, good)).toEqual([]);
  });

  it('rejects what the contract forbids', () => {
    expect(broken((r) => { r.layers[0].bounds.spectral = '1.8'; })).toEqual(['/layers/0/bounds/spectral: must be number,null']);
    expect(broken((r) => { delete r.network.certified; })).toEqual(["/network: must have required property 'certified'"]);
    expect(broken((r) => { r.layers[0].extra = 1; })).toEqual(['/layers/0: must NOT have additional properties (extra)']);
    expect(broken((r) => { r.schemaVersion = 2; })).toEqual(['/schemaVersion: must be equal to constant (1)']);
    expect(broken((r) => { r.layers[0].budget = { limit: 1 }; })).toContain('/layers/0/budget: must match exactly one schema in oneOf');
    expect(broken((r) => { r.layers[0].best = -1; })).toEqual(['/layers/0/best: must be >= 0']);
    expect(broken((r) => { r.model.sha256 = 'XYZ'; })).toEqual(['/model/sha256: must match pattern "^[0-9a-f]{64}$"']);
    expect(broken((r) => { r.layers[0].bestMethod = 'svd'; })).toEqual(['/layers/0/bestMethod: must be equal to one of the allowed values']);
    expect(broken((r) => { r.settings.samples = 1.5; })).toEqual(['/settings/samples: must be integer']);
    expect(broken((r) => { r.settings.methods = []; })).toEqual(['/settings/methods: must NOT have fewer than 1 items']);
  });

  it('fails loudly on a keyword the validator does not know (strict mode)', () => {
    expect(() => validateJsonSchema({ type: 'object', properties: {}, maxFancy: 3 }, {})).toThrow(/unknown keyword/);
  });
});

describe('hostile layer names from the model file', () => {
  it('cannot inject escape codes or extra lines into the table or markdown', () => {
    const evil = convLayer('x\n\x1b[2J\x1b[31mowned|`*');
    const r = makeReport([evil], [boundsFor(evil, { toeplitz: 2.5, spectral: 1.8, power: 1.75, frobenius: 4 })]);
    const table = renderTable(r, new Chalk({ level: 0 }));
    expect(table).not.toMatch(ANSI);
    expect(table).toContain('x\\n\\u001b[2J\\u001b[31mowned|`*');
    const md = renderMarkdown(r);
    expect(md).not.toMatch(ANSI);
    const rowLine = md.split('\n').find((l) => l.includes('owned'))!;
    expect(rowLine.startsWith('| `x\\n\\u001b[2J\\u001b[31mowned\\|\'*` |')).toBe(true);
  });
});
