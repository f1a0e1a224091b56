// The child process of parallel-layers.ts: loads the model file once, then bounds the layers it is
// sent, one at a time, and replies with each result (or one error line).
import { boundLayer } from './layer/engine.js';
import type { Layer } from './model/layer.js';
import { loadModel } from './onnx/load.js';
import { layerHash, type ChildReply, type ChildRequest } from './parallel-layers.js';

let layers: Layer[] = [];
const reply = (m: ChildReply) => process.send?.(m);

process.on('message', (m: ChildRequest) => {
  void (async () => {
    try {
      if (m.kind === 'init') {
        layers = (await loadModel(m.file, { ...m.load, skipHash: true })).layers;
        reply({ kind: 'ready' });
      } else {
        const layer = layers[m.index];
        if (!layer || layer.name !== m.name) throw new Error(`layer ${m.index} is not '${m.name}' in the child's model`);
        if (layerHash(layer) !== m.layerHash) throw new Error(`layer '${m.name}' differs in the child's model (the file changed)`);
        reply({ kind: 'result', index: m.index, result: await boundLayer(layer, m.opts) });
      }
    } catch (err) {
      reply({ kind: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  })();
});
process.on('disconnect', () => process.exit(0));
