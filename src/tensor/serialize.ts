// Tensor maps to and from files in PyTorch's torch.save zip format (Python `torch.load` reads ours, we read theirs).
import * as fs from 'node:fs';
import { native } from '../native/addon.ts';
import { writeFileAtomic } from '../util/fsx.ts';
import { Tensor } from './tensor.ts';
import { parseTorchBin } from './torchbin.ts';

export function serializeTensors(map: Record<string, Tensor> | Map<string, Tensor>): Buffer {
  const entries = map instanceof Map ? [...map.entries()] : Object.entries(map);
  return native.saveTensors(
    entries.map(([k]) => k),
    entries.map(([, t]) => t.handle),
  );
}
export function deserializeTensors(bytes: Buffer): Map<string, Tensor> {
  const [names, handles] = native.loadTensors(bytes);
  const out = new Map<string, Tensor>();
  names.forEach((n, i) => out.set(n, new Tensor(handles[i]!)));
  return out;
}
/** Writes {name: tensor} atomically as a torch.save-compatible file. */
export function saveTensors(map: Record<string, Tensor> | Map<string, Tensor>, path: string): void {
  writeFileAtomic(path, serializeTensors(map));
}
/**
 * Reads a torch.save'd dict of tensors: files written by `saveTensors`, and Python's (e.g. pytorch_model.bin, zip or
 * legacy format). libtorch 1.13's unpickler cannot read Python's OrderedDict state dicts, so those go through the
 * TypeScript reader. Errors name the file.
 */
export function loadTensors(path: string): Map<string, Tensor> {
  const bytes = fs.readFileSync(path);
  try {
    return deserializeTensors(bytes);
  } catch (native) {
    try {
      return parseTorchBin(bytes, path);
    } catch (e) {
      throw new Error(`${path}: cannot read tensors: ${(e as Error).message} (libtorch: ${(native as Error).message.split('\n')[0]})`);
    }
  }
}
