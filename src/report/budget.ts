// Budgets: the CI gate. Loading the config (lipcheck.config.json or a "lipcheck" key in
// package.json), merging it with the flags, and comparing numbers to limits. Comparison only:
// every bound was computed by the engine.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ALL_METHODS, type MethodName } from '../layer/types.js';
import { InputError } from '../errors.js';
import { compileNamePattern, type NamePredicate } from '../util/name-pattern.js';
import { formatNumber } from './format.js';
import type { BudgetCheck } from './types.js';

export const CONFIG_FILE_NAME = 'lipcheck.config.json';

/** The budget part of a config file, validated. */
export interface BudgetConfig {
  /** Where it was read from, for messages: `lipcheck.config.json` or `package.json ("lipcheck")`. */
  source: string;
  budget?: number;
  layerBudget?: number;
  /** Per-layer limits by name pattern, in file order (the first match wins). */
  layers: { pattern: string; limit: number }[];
  budgetMethod?: MethodName;
  /** The input box of the local bound (as --input-range takes it). */
  inputRange?: string;
}

export interface Limit {
  limit: number;
  source: string;
}

export interface LayerRule extends Limit {
  matches: NamePredicate;
}

/** Budgets after merging flags over the config. */
export interface BudgetSettings {
  network: Limit | null;
  everyLayer: Limit | null;
  rules: LayerRule[];
  /** Gate this method's value instead of each layer's best certified bound. */
  method: MethodName | null;
}

const CONFIG_KEYS = new Set(['$schema', 'budget', 'layerBudget', 'layers', 'budgetMethod', 'inputRange']);

/**
 * Read the config: `explicitPath` (--config) must exist; otherwise lipcheck.config.json in `cwd`,
 * else the "lipcheck" key of `cwd`/package.json, else null.
 */
export async function loadBudgetConfig(cwd: string, explicitPath?: string): Promise<BudgetConfig | null> {
  if (explicitPath !== undefined) {
    const text = await readText(path.resolve(cwd, explicitPath), explicitPath);
    if (text === null) throw new InputError('config file not found', explicitPath);
    return parseBudgetConfig(parseJson(text, explicitPath), explicitPath);
  }
  const text = await readText(path.join(cwd, CONFIG_FILE_NAME), CONFIG_FILE_NAME);
  if (text !== null) return parseBudgetConfig(parseJson(text, CONFIG_FILE_NAME), CONFIG_FILE_NAME);
  const pkgText = await readText(path.join(cwd, 'package.json'), 'package.json');
  if (pkgText === null) return null;
  const pkg = parseJson(pkgText, 'package.json');
  if (!isPlainObject(pkg) || !('lipcheck' in pkg)) return null;
  return parseBudgetConfig(pkg.lipcheck, 'package.json ("lipcheck")', 'package.json');
}

/** Validate a config object; every problem is an InputError naming the file. */
export function parseBudgetConfig(raw: unknown, source: string, file = source): BudgetConfig {
  const fail = (problem: string): never => {
    throw new InputError(problem, file);
  };
  if (!isPlainObject(raw)) fail(`${source}: expected an object with budget, layerBudget, layers or budgetMethod`);
  const obj = raw as Record<string, unknown>;
  const unknown = Object.keys(obj).filter((k) => !CONFIG_KEYS.has(k));
  if (unknown.length > 0) fail(`unknown config key ${unknown.map((k) => JSON.stringify(k)).join(', ')} (known: ${[...CONFIG_KEYS].slice(1).join(', ')})`);
  const config: BudgetConfig = { source, layers: [] };
  const limitOf = (value: unknown, what: string): number => {
    const problem = budgetProblem(value);
    return problem === null ? (value as number) : fail(`${what}: ${problem}`);
  };
  if (obj.budget !== undefined) config.budget = limitOf(obj.budget, '"budget"');
  if (obj.layerBudget !== undefined) config.layerBudget = limitOf(obj.layerBudget, '"layerBudget"');
  if (obj.budgetMethod !== undefined) {
    if (!ALL_METHODS.includes(obj.budgetMethod as MethodName)) fail(`"budgetMethod": expected one of ${ALL_METHODS.join(', ')}`);
    config.budgetMethod = obj.budgetMethod as MethodName;
  }
  if (obj.inputRange !== undefined) {
    if (typeof obj.inputRange !== 'string') fail('"inputRange": expected a string such as "0:1"');
    config.inputRange = obj.inputRange as string;
  }
  if (obj.layers !== undefined) {
    if (!isPlainObject(obj.layers)) fail('"layers": expected an object mapping layer-name patterns to budgets');
    for (const [pattern, value] of Object.entries(obj.layers as Record<string, unknown>)) {
      try {
        compileNamePattern(pattern);
      } catch (err) {
        fail(`"layers": ${(err as Error).message}`);
      }
      config.layers.push({ pattern, limit: limitOf(value, `"layers"[${JSON.stringify(pattern)}]`) });
    }
  }
  return config;
}

/** Why a value cannot be a budget (null when it can): budgets are positive finite numbers. */
export function budgetProblem(value: unknown): string | null {
  if (typeof value !== 'number' || !Number.isFinite(value)) return `expected a positive number, got ${JSON.stringify(value) ?? String(value)}`;
  if (value <= 0) return `expected a positive number, got ${value}`;
  return null;
}

export interface BudgetFlags {
  budget?: number;
  layerBudget?: number;
  budgetMethod?: MethodName;
}

/** Flags win over the same setting in the config. */
export function resolveBudgets(flags: BudgetFlags, config: BudgetConfig | null): BudgetSettings {
  const pick = (flag: number | undefined, flagName: string, fromConfig: number | undefined, key: string): Limit | null => {
    if (flag !== undefined) return { limit: flag, source: flagName };
    if (fromConfig !== undefined && config) return { limit: fromConfig, source: `${config.source}: ${key}` };
    return null;
  };
  return {
    network: pick(flags.budget, '--budget', config?.budget, 'budget'),
    everyLayer: pick(flags.layerBudget, '--layer-budget', config?.layerBudget, 'layerBudget'),
    rules: (config?.layers ?? []).map(({ pattern, limit }) => ({
      limit,
      source: `${config!.source}: layers[${JSON.stringify(pattern)}]`,
      matches: compileNamePattern(pattern),
    })),
    method: flags.budgetMethod ?? config?.budgetMethod ?? null,
  };
}

export function hasAnyBudget(settings: BudgetSettings): boolean {
  return settings.network !== null || settings.everyLayer !== null || settings.rules.length > 0;
}

/** The limit that applies to a layer: its first matching pattern, else the every-layer budget. */
export function layerLimit(name: string, settings: BudgetSettings): Limit | null {
  return settings.rules.find((rule) => rule.matches(name)) ?? settings.everyLayer;
}

export interface GateableLayer {
  name: string;
  bounds: Record<MethodName, number | null>;
  best: number | null;
  unsupportedReason: string | null;
}

/** A layer's budget check, or null when no budget applies to it. */
export function checkLayerBudget(layer: GateableLayer, settings: BudgetSettings): BudgetCheck | null {
  const limit = layerLimit(layer.name, settings);
  if (!limit) return null;
  const method = settings.method;
  const value = method ? layer.bounds[method] : layer.best;
  const label = method ?? 'best certified bound';
  let missing: string;
  if (layer.unsupportedReason !== null) missing = `unsupported (${layer.unsupportedReason}): no bound to check`;
  else missing = method ? `no ${method} value to check` : 'no certified bound to check';
  return compare(value, limit, label, missing);
}

export function checkNetworkBudget(bound: number | null, settings: BudgetSettings, label = 'network bound'): BudgetCheck | null {
  if (!settings.network) return null;
  return compare(bound, settings.network, label, 'no certified network bound to check (and no certified local bound: see --input-range)');
}

// A missing number fails the gate: a CI budget must not pass what it could not verify.
function compare(value: number | null, { limit, source }: Limit, label: string, missing: string): BudgetCheck {
  if (value === null) return { limit, value, passed: false, source, reason: missing };
  const passed = value <= limit;
  const reason = passed ? null : `${label} ${formatNumber(value)} > budget ${formatNumber(limit)} (${source})`;
  return { limit, value, passed, source, reason };
}

async function readText(absPath: string, shown: string): Promise<string | null> {
  try {
    return await readFile(absPath, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'EISDIR') throw new InputError('is a directory, not a config file', shown);
    throw new InputError(`cannot read: ${(err as Error).message}`, shown);
  }
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(`invalid JSON: ${(err as Error).message}`, file);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
