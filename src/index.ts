// Programmatic API: the three parts (loader -> engine -> report) and the network walk. The command
// line (commander, chalk) is not part of it: it lives in src/cli/ and runs through bin/lipcheck.
export { InputError } from './errors.js';
export { loadModel } from './onnx/load.js';
export { auditModel, type Audit, type AuditOptions } from './audit.js';
export { networkBound, type NetworkBound } from './network/walk.js';
export { boundLayers } from './layer/engine.js';
export { ALL_METHODS, DEFAULT_ENGINE_OPTIONS, type EngineOptions, type LayerBounds, type MethodName, type MethodResult } from './layer/types.js';
export type { ConvLayer, DenseLayer, Layer, LoadedModel, ModelInfo, UnsupportedLayer } from './model/layer.js';
export { buildReport, type ReportInput } from './report/build.js';
export {
  checkLayerBudget, checkNetworkBudget, loadBudgetConfig, parseBudgetConfig, resolveBudgets,
  type BudgetConfig, type BudgetFlags, type BudgetSettings,
} from './report/budget.js';
export { renderJson } from './report/json.js';
export { renderMarkdown } from './report/markdown.js';
export { renderTable } from './report/table.js';
export { REPORT_JSON_SCHEMA } from './report/json-schema.js';
export { SCHEMA_VERSION, type BudgetCheck, type BudgetFailure, type LipcheckReport, type NetworkReport, type ReportLayer } from './report/types.js';
