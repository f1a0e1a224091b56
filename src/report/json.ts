// The JSON report: the contract other tools pipe on (schema in ./json-schema.ts). The report
// builder has already replaced every non-finite number by null with a note.
import type { LipcheckReport } from './types.js';

export function renderJson(report: LipcheckReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
