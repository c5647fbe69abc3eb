/**
 * TensorFlow.js for the tests: the oracle the network kernel's gradients and logits are compared
 * with (test/unit/models/network-kernel.test.ts). The models themselves no longer use it (see
 * models/neural/network-kernel.ts). Backends, tried in this order:
 *
 *   1. 'node'  @tensorflow/tfjs-node (native libtensorflow), when it is installed and loads;
 *   2. 'wasm'  @tensorflow/tfjs + @tensorflow/tfjs-backend-wasm, its .wasm files taken from the
 *              package's dist folder;
 *   3. 'cpu'   @tensorflow/tfjs's plain JavaScript kernels.
 *
 * TFJS_BACKEND=node|wasm|cpu forces one: it must then load, nothing else is tried.
 */
import * as path from 'node:path';
import type * as TF from '@tensorflow/tfjs';

export type TensorFlow = typeof TF;
export type NeuralBackend = 'node' | 'wasm' | 'cpu';
const BACKENDS: readonly NeuralBackend[] = ['node', 'wasm', 'cpu'];

export interface TensorFlowInfo {
  backend: NeuralBackend;
  /** Backends tried before the active one, and why each was not used. */
  skipped: string[];
}

let loaded: { tf: TensorFlow; info: TensorFlowInfo } | undefined;
let loading: Promise<TensorFlow> | undefined;

function message(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0] : String(error);
}

/** The backend TFJS_BACKEND asks for, or undefined for the automatic order. */
export function requestedBackend(env: NodeJS.ProcessEnv = process.env): NeuralBackend | undefined {
  const value = env.TFJS_BACKEND?.trim().toLowerCase();
  if (!value) return undefined;
  if (!(BACKENDS as readonly string[]).includes(value)) throw new Error(`TFJS_BACKEND="${env.TFJS_BACKEND}" is not one of ${BACKENDS.join(', ')}`);
  return value as NeuralBackend;
}

async function tryBackend(backend: NeuralBackend): Promise<TensorFlow> {
  if (backend === 'node') {
    // A variable name, so neither TypeScript nor a bundler resolves the optional package.
    const name = '@tensorflow/tfjs-node';
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const tf = require(name) as TensorFlow;
    if (!(await tf.setBackend('tensorflow'))) throw new Error('the tensorflow backend did not initialise');
    return tf;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tf = require('@tensorflow/tfjs') as TensorFlow;
  if (backend === 'wasm') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
    const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
    wasm.setWasmPaths(dist); // tfjs-backend-wasm.wasm / -simd.wasm; threads are unavailable in Node
  }
  if (!(await tf.setBackend(backend))) throw new Error(`the ${backend} backend did not initialise`);
  await tf.ready();
  return tf;
}

async function load(): Promise<TensorFlow> {
  const forced = requestedBackend();
  const order = forced ? [forced] : BACKENDS;
  const skipped: string[] = [];
  for (const backend of order) {
    try {
      const tf = await tryBackend(backend);
      loaded = { tf, info: { backend, skipped } };
      return tf;
    } catch (error) {
      if (forced) throw new Error(`TFJS_BACKEND=${forced}: the backend cannot be loaded: ${message(error)}`, { cause: error });
      skipped.push(`${backend}: ${message(error)}`);
    }
  }
  throw new Error(`no TensorFlow.js backend could be loaded (${skipped.join('; ')})`);
}

/** Loads TensorFlow.js once (later calls return the same namespace) and selects the backend. */
export function loadTensorFlow(): Promise<TensorFlow> {
  if (loaded) return Promise.resolve(loaded.tf);
  loading ??= load().catch((error: unknown) => {
    loading = undefined; // a later call may try again
    throw error;
  });
  return loading;
}

/** The active backend, or undefined before loadTensorFlow() has resolved. */
export function tensorFlowInfo(): TensorFlowInfo | undefined {
  return loaded && { backend: loaded.info.backend, skipped: [...loaded.info.skipped] };
}
