// Time spent inside onnxruntime (session runs and session creation), so the benchmark can split a
// method's wall time into native and JS shares. onnxruntime-node runs a session synchronously on the
// main thread (inside a setImmediate), so the time between the call and its settled promise is native
// work plus one event-loop hop: nothing else runs in between in the engine.

let nativeMs = 0;
let nativeCalls = 0;

/** Milliseconds and calls spent in onnxruntime since the process started (read twice and subtract). */
export function nativeTime(): { ms: number; calls: number } {
  return { ms: nativeMs, calls: nativeCalls };
}

/** Runs f (one onnxruntime call) and adds its duration to the native clock. */
export async function native<T>(f: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await f();
  } finally {
    nativeMs += performance.now() - t0;
    nativeCalls++;
  }
}
