// The one place onnxruntime-node is loaded: lazily, on the first native product or power iteration,
// so runs that need neither (toeplitz, frobenius, small matrices) never load the native addon.
import type * as Ort from 'onnxruntime-node';

let loading: Promise<typeof Ort> | null = null;

export function onnxruntime(): Promise<typeof Ort> {
  loading ??= import('onnxruntime-node');
  return loading;
}
