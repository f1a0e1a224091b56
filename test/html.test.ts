// The HTML report: the engine's frequency maps against an independent direct evaluation, the
// choice of heat-map layers, the HTML string (escaping, structure, self-contained), the CLI flags,
// and a real headless browser (Debian's chromium via playwright-core): it renders, logs no error,
// loads nothing, and the screenshot is not blank.
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { frequencyMap, MAX_MAP_SAMPLES } from '../src/layer/frequency-map.js';
import type { ConvLayer } from '../src/model/layer.js';
import { heatMapLayers, renderHtml, type HtmlFrequencyMap } from '../src/report/html.js';
import type { LipcheckReport } from '../src/report/types.js';
import { normalArray } from '../src/util/random.js';
import { chainModel, runInProcess } from './helpers/cli-models.js';
import { boundsFor, convLayer, denseLayer, makeReport, unsupportedLayer } from './helpers/report-inputs.js';
import { symbolEntry } from './helpers/symbol.js';
import { tempDir } from './helpers/tmp.js';

const CHROMIUM = '/usr/bin/chromium';

function randomConv(name: string, shape: number[], seed: number, extra: Partial<ConvLayer> = {}): ConvLayer {
  const n = shape.reduce((a, b) => a * b, 1);
  return convLayer(name, { weight: Float32Array.from(normalArray(n, seed)), weightShape: shape, ...extra });
}

/** sum over stored channel pairs (o, j) of |sum_p K[o,j,p] e^{-i p.w}|^2, straight from the definition. */
function directEnergy(w: Float32Array, shape: number[], w1: number, w2: number): number {
  const [co, cj, kh, kw = 1] = shape;
  let total = 0;
  for (let o = 0; o < co; o++) {
    for (let j = 0; j < cj; j++) {
      const [re, im] = symbolEntry(w, cj, kh, kw, o, j, w1, w2);
      total += re * re + im * im;
    }
  }
  return total;
}

describe('frequencyMap', () => {
  it('a two-tap kernel [1, 1]: 2 + 2 cos(w2), zero at w2 = -pi, peak 4 at w2 = 0', () => {
    const layer = convLayer('pair', { weight: Float32Array.from([1, 1]), weightShape: [1, 1, 1, 2] });
    const map = frequencyMap(layer, 8);
    expect(map.grid).toEqual([8, 8]);
    for (let a = 0; a < 8; a++) {
      for (let b = 0; b < 8; b++) {
        const w2 = -Math.PI + (2 * Math.PI * b) / 8;
        expect(map.values[a * 8 + b]).toBeCloseTo(2 + 2 * Math.cos(w2), 12);
      }
    }
    expect(map.min).toBeCloseTo(0, 12);
    expect(map.max).toBeCloseTo(4, 12);
    expect(map.peak).toEqual({ w1: -Math.PI, w2: 0 });
    expect(map.quantity).toMatch(/\|\|F\(w\)\|\|_F\^2/);
  });

  it('matches the direct sum over channel pairs (dense, grouped, strided), relative 1e-12', () => {
    const cases = [
      randomConv('dense', [3, 2, 3, 3], 1),
      randomConv('grouped', [4, 2, 3, 2], 2, { group: 2 }),
      randomConv('strided', [2, 3, 5, 5], 3, { strides: [2, 2] }), // strides do not enter: the stride-1 kernel's response
    ];
    for (const layer of cases) {
      const map = frequencyMap(layer, 12);
      let max = 0;
      for (let a = 0; a < 12; a++) {
        for (let b = 0; b < 12; b++) {
          const want = directEnergy(layer.weight, layer.weightShape, -Math.PI + (2 * Math.PI * a) / 12, -Math.PI + (2 * Math.PI * b) / 12);
          expect(Math.abs(map.values[a * 12 + b] - want)).toBeLessThan(1e-12 * Math.max(1, want) * 100);
          max = Math.max(max, want);
        }
      }
      expect(map.max).toBeCloseTo(max, 10);
    }
  });

  it('caps the grid at 64 per axis, and a 1-D conv gets an m x 1 strip', () => {
    expect(frequencyMap(randomConv('big', [2, 2, 3, 3], 4), 500).grid).toEqual([MAX_MAP_SAMPLES, MAX_MAP_SAMPLES]);
    const conv1d = randomConv('c1d', [2, 2, 3], 5, { spatialDims: 1, strides: [1], dilations: [1], pads: [1, 1] });
    const map = frequencyMap(conv1d, 10);
    expect(map.grid).toEqual([10, 1]);
    for (let a = 0; a < 10; a++) {
      expect(map.values[a]).toBeCloseTo(directEnergy(conv1d.weight, [2, 2, 3, 1], -Math.PI + (2 * Math.PI * a) / 10, 0), 10);
    }
  });
});

// Three conv layers (tightness 1.5, 1.05, 1.2), a dense layer, an unsupported one with a hostile name.
const EVIL = '<img src=x onerror=alert(1)>"\'&amp;';
const convs = [randomConv('features.0/conv', [8, 3, 3, 3], 7), randomConv('features.3/conv', [8, 8, 3, 3], 8), randomConv(EVIL, [4, 8, 3, 3], 9)];
const fc = denseLayer('classifier/fc');
const bad = unsupportedLayer('q/conv', 'QLinearConv <per-channel> zero points');
function sampleReport(): LipcheckReport {
  return makeReport(
    [...convs, fc, bad],
    [
      boundsFor(convs[0], { toeplitz: 3, spectral: 2.4, power: 1.6, frobenius: 9 }),
      boundsFor(convs[1], { toeplitz: 2.5, spectral: 2.1, power: 2, frobenius: 6 }),
      boundsFor(convs[2], { toeplitz: 1.5, spectral: 1.2, power: 1, frobenius: 3 }),
      boundsFor(fc, { toeplitz: 0.8, spectral: 0.8, power: 0.8, frobenius: 2 }),
      boundsFor(bad, {}),
    ],
    { flags: { layerBudget: 2.2, budget: 50 } },
  );
}

function mapsFor(report: LipcheckReport, samples = 24): HtmlFrequencyMap[] {
  return heatMapLayers(report).map((pick) => ({ ...pick, map: frequencyMap(convs[pick.index], samples) }));
}

const count = (text: string, re: RegExp) => (text.match(re) ?? []).length;

describe('heatMapLayers', () => {
  it('picks the loosest and tightest conv layers by tightness', () => {
    expect(heatMapLayers(sampleReport())).toEqual([
      { index: 0, name: 'features.0/conv', role: 'loosest' }, // 2.4 / 1.6 = 1.5
      { index: 1, name: 'features.3/conv', role: 'tightest' }, // 2.1 / 2 = 1.05
    ]);
  });

  it('without power: the largest and smallest best bound; one layer once; none without a conv', () => {
    const r = makeReport(convs, convs.map((c, i) => boundsFor(c, { spectral: [2, 5, 1][i] })), { methods: ['spectral'] });
    expect(heatMapLayers(r).map((p) => [p.index, p.role])).toEqual([[1, 'largest bound'], [2, 'smallest bound']]);
    expect(heatMapLayers(makeReport([convs[0]], [boundsFor(convs[0], { spectral: 2, power: 1 })]))).toHaveLength(1);
    expect(heatMapLayers(makeReport([fc], [boundsFor(fc, { spectral: 1, power: 1 })]))).toEqual([]);
  });
});

describe('renderHtml (string)', () => {
  const report = sampleReport();
  const html = renderHtml(report, { frequencyMaps: mapsFor(report) });

  it('is self-contained: no script, no external resource, a CSP that forbids loading anything', () => {
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/https?:|\/\//i);
    // no src/href attribute on any tag (the escaped hostile name only appears inside quoted values and text)
    expect(html).not.toMatch(/<\w+(\s+[\w:-]+="[^"]*")*\s+(src|href)\s*=/i);
    expect(html).not.toMatch(/<\w+(\s+[\w:-]+="[^"]*")*\s+on\w+\s*=/i);
    expect(html).not.toMatch(/@import|url\((?!#)/i);
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;`.replace(/&#39;/g, "'"));
  });

  it('escapes every string from the model', () => {
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<per-channel>');
    expect(html).toContain('&#60;img src=x onerror=alert(1)&#62;&#34;&#39;&#38;amp;');
    expect(html).toContain('QLinearConv &#60;per-channel&#62; zero points');
    expect(html).toContain(`data-layer="&#60;img src=x onerror=alert(1)&#62;&#34;&#39;&#38;amp;"`);
  });

  it('has one chart row per layer, a bar per upper method run, power markers, budget lines and the heat-map cells', () => {
    expect(count(html, /<g class="layer( over)?"/g)).toBe(5);
    expect(count(html, /<rect class="bar m-(spectral|toeplitz|frobenius)/g)).toBe(4 * 3);
    expect(count(html, /<rect class="bar m-\w+ best"/g)).toBe(4); // one best bar per bounded layer
    expect(count(html, /<line class="power"/g)).toBe(4);
    expect(count(html, /<g class="layer over"/g)).toBe(2); // features.0/conv (2.4 > 2.2) and the unsupported q/conv (nothing to check)
    expect(count(html, /<line class="budget"/g)).toBe(5 + 1); // every layer (the unsupported one too) + the network
    expect(count(html, /<rect class="cell"/g)).toBe(2 * 24 * 24);
    expect(count(html, /<svg class="heatmap"/g)).toBe(2);
    expect(html).toMatch(/<strong>loosest<\/strong>: <code>features\.0\/conv<\/code>/);
    expect(html).toContain('Graph-aware bound (not certified): —; naive product of the layer bounds: — (valid only for a plain chain).');
    expect(html).toContain('Not certified because of: Conv (q/conv).');
    expect(html).toContain('✗ budget exceeded (3): network, features.0/conv, q/conv');
    expect(html).toContain('unsupported: QLinearConv &#60;per-channel&#62; zero points');
  });

  it('without maps or layers it still renders, saying why', () => {
    const empty = renderHtml(makeReport([], []));
    expect(empty).toContain('No conv or dense layer found.');
    expect(empty).toContain('no frequency map');
  });
});

describe('CLI --format html / --html', () => {
  let dir: string;
  beforeAll(async () => {
    dir = tempDir('lipcheck-html');
    await writeFile(path.join(dir, 'chain.onnx'), chainModel());
  });

  it('--format html writes the page to stdout; --html <file> writes it while the table goes to stdout', async () => {
    const page = await runInProcess(['chain.onnx', '--format', 'html'], { cwd: dir });
    expect(page.code).toBe(0);
    expect(page.stderr).toBe('');
    expect(page.stdout.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(count(page.stdout, /<svg class="heatmap" data-layer="conv1"/g)).toBe(1); // the only conv layer
    expect(count(page.stdout, /<rect class="cell"/g)).toBe(50 * 50); // --samples default 50 (<= the 64 cap)

    const both = await runInProcess(['chain.onnx', '--html', 'out/../report.html', '--no-bars'], { cwd: dir });
    expect(both.code).toBe(0);
    expect(both.stdout).toMatch(/│ conv1 +│ Conv/);
    expect(both.stdout).not.toMatch(/best \(log\)/);
    const file = readFileSync(path.join(dir, 'report.html'), 'utf8');
    expect(file).toBe(page.stdout.replace(/in \d+ ms</, file.match(/in \d+ ms</)![0]));

    const unwritable = await runInProcess(['chain.onnx', '--html', 'no/such/dir/r.html'], { cwd: dir });
    expect(unwritable.code).toBe(2);
    expect(unwritable.stdout).toBe('');
    expect(unwritable.stderr).toMatch(/^lipcheck: no\/such\/dir\/r\.html: cannot write: .*\n$/);
  });
});

describe.skipIf(!existsSync(CHROMIUM))('HTML in headless chromium', () => {
  it('renders with no console error and no request; the charts, heat maps and screenshot are not blank', async () => {
    const { chromium } = await import('playwright-core');
    const report = sampleReport();
    const html = renderHtml(report, { frequencyMaps: mapsFor(report, 48) });
    const context = await chromium.launchPersistentContext(tempDir('lipcheck-chromium'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1200, height: 900 },
    });
    try {
      const page = await context.newPage();
      const errors: string[] = [];
      const requests: string[] = [];
      const dialogs: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('request', (r) => requests.push(r.url()));
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      await page.setContent(html, { waitUntil: 'load' });

      const dom = await page.evaluate(() => ({
        svgs: document.querySelectorAll('svg').length,
        rows: document.querySelectorAll('svg.layers g.layer').length,
        barsPerRow: [...document.querySelectorAll('svg.layers g.layer')].map((g) => g.querySelectorAll('rect.bar').length),
        cells: document.querySelectorAll('svg.heatmap rect.cell').length,
        imgs: document.querySelectorAll('img, script, iframe, object').length,
        firstName: document.querySelector('svg.layers g.layer:nth-of-type(3) text.name title')?.textContent ?? null,
        heatmapBoxes: [...document.querySelectorAll('svg.heatmap')].map((s) => s.getBoundingClientRect().width),
        cellFills: new Set([...document.querySelectorAll('svg.heatmap rect.cell')].map((r) => r.getAttribute('fill'))).size,
      }));
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
      expect(dialogs).toEqual([]);
      expect(dom.svgs).toBe(4); // layers, network, two heat maps
      expect(dom.rows).toBe(5);
      expect(dom.barsPerRow).toEqual([3, 3, 3, 3, 0]);
      expect(dom.cells).toBe(2 * 48 * 48);
      expect(dom.imgs).toBe(0); // the hostile name stayed text
      expect(dom.firstName).toBe(EVIL);
      for (const w of dom.heatmapBoxes) expect(w).toBeGreaterThan(200);
      expect(dom.cellFills).toBeGreaterThan(100);

      // Decode the PNG screenshot in the page itself (a canvas) and look at its pixels.
      const png = await page.screenshot({ fullPage: true });
      const pixels = await page.evaluate(async (b64) => {
        const img = new Image();
        img.src = `data:image/png;base64,${b64}`;
        await img.decode();
        const canvas = document.createElement('canvas');
        canvas.width = img.width;
        canvas.height = img.height;
        const ctx = canvas.getContext('2d')!;
        ctx.drawImage(img, 0, 0);
        const data = ctx.getImageData(0, 0, img.width, img.height).data;
        const colours = new Set<number>();
        let nonWhite = 0;
        for (let i = 0; i < data.length; i += 4) {
          colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
          if (data[i] < 240 || data[i + 1] < 240 || data[i + 2] < 240) nonWhite++;
        }
        return { width: img.width, height: img.height, colours: colours.size, nonWhite: nonWhite / (data.length / 4) };
      }, png.toString('base64'));
      expect(pixels.width).toBe(1200);
      expect(pixels.height).toBeGreaterThan(900);
      expect(pixels.colours).toBeGreaterThan(200);
      expect(pixels.nonWhite).toBeGreaterThan(0.05);
      expect(pixels.nonWhite).toBeLessThan(0.9);
    } finally {
      await context.close();
    }
  }, 60_000);
});
