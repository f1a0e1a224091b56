// Terminal bars: the log scale, the eighth-block rendering, and the table column (off with --no-bars).
import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import { BAR_WIDTH, logFraction, logScale, renderBar } from '../src/report/bars.js';
import { renderTable } from '../src/report/table.js';
import { boundsFor, convLayer, denseLayer, makeReport } from './helpers/report-inputs.js';

describe('log scale', () => {
  it('ends at the largest positive value and spans at least one decade', () => {
    expect(logScale([2, null, 0, -1, 20, 0.2])).toEqual({ max: 20, decades: 2 });
    expect(logScale([3, 2])).toEqual({ max: 3, decades: 1 });
    expect(logScale([null, 0])).toBeNull();
  });

  it('places values by log distance below the max', () => {
    const scale = { max: 100, decades: 2 };
    expect(logFraction(100, scale)).toBe(1);
    expect(logFraction(10, scale)).toBeCloseTo(0.5, 15);
    expect(logFraction(1, scale)).toBeCloseTo(0, 15);
    expect(logFraction(0.01, scale)).toBe(0); // clamped
    expect(logFraction(null, scale)).toBeNull();
    expect(logFraction(0, scale)).toBeNull();
  });
});

describe('renderBar', () => {
  it('draws eighths of a cell, padded to the width; never empty for a present value', () => {
    expect(renderBar(1)).toBe('█'.repeat(BAR_WIDTH));
    expect(renderBar(0.5)).toBe(`${'█'.repeat(5)}${' '.repeat(5)}`);
    expect(renderBar(0.5125)).toBe(`█████▏${' '.repeat(4)}`); // 41 eighths
    expect(renderBar(0.0875)).toBe(`▉${' '.repeat(9)}`); // 7 eighths
    expect(renderBar(0.0625)).toBe(`▋${' '.repeat(9)}`); // 5 eighths
    expect(renderBar(0)).toBe(`▏${' '.repeat(9)}`);
    expect(renderBar(0.25, 4)).toBe('█   ');
    for (let e = 0; e <= 80; e++) expect([...renderBar(e / 80)]).toHaveLength(BAR_WIDTH);
  });
});

describe('table bars', () => {
  // Best bounds 10, 1, 0.1: two decades, bars full, half, a sliver.
  const layers = [convLayer('big'), convLayer('mid'), denseLayer('small')];
  const report = makeReport(layers, [boundsFor(layers[0], { spectral: 10 }), boundsFor(layers[1], { spectral: 1 }), boundsFor(layers[2], { spectral: 0.1 })], { methods: ['spectral'] });
  const cells = (text: string, name: string) => text.split('\n').find((l) => l.includes(`│ ${name} `))!.split('│').map((c) => c.trim()).filter((c) => c !== '');

  it('shows the best bound on a log scale relative to the largest layer, with a legend', () => {
    const text = renderTable(report, new Chalk({ level: 0 }));
    expect(text).toMatch(/│ best \(log\) +│/);
    expect(cells(text, 'big').at(-1)).toBe('██████████');
    expect(cells(text, 'mid').at(-1)).toBe('█████');
    expect(cells(text, 'small').at(-1)).toBe('▏');
    expect(text).toMatch(/bars: best bound on a log scale, full = 10\.00 \(largest layer\), empty = 2 decades below\n$/);
  });

  it('--no-bars (bars: false) drops the column and the legend', () => {
    const text = renderTable(report, new Chalk({ level: 0 }), { bars: false });
    expect(text).not.toMatch(/best \(log\)|bars:|[▏▎▍▌▋▊▉█]/);
    expect(cells(text, 'big')).toEqual(['big', 'Conv', '4x3x3x3', '1/1/1', '3x8x8', '10.00']);
  });
});
