// Starting a worker thread on one of the project's TypeScript modules.
import { Worker } from 'node:worker_threads';

/**
 * A Worker running the TypeScript module at `url`. Workers do not inherit tsx's loader hooks, so a bootstrap
 * registers them before importing the module.
 */
export function startTsWorker(url: string, workerData: unknown): Worker {
  const boot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(url)}); });`;
  return new Worker(boot, { eval: true, workerData });
}
