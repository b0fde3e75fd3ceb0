// Hugging Face-layout checkpoints: read config.json + model.safetensors or pytorch_model.bin into a DotModel,
// and write config.json + model.safetensors that Python (transformers, DRhard) can read back.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fromBuffer, type Tensor } from '../tensor/index.ts';
import { describeReport, type LoadReport } from '../nn/module.ts';
import { DrhardInputError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/fsx.ts';
import { configToJson, readConfig } from './config.ts';
import { DotModel, createModel } from './dual.ts';
import { resolvePlainEncoder } from './plain.ts';
import { SafetensorsFile, writeSafetensors, type StDType } from './safetensors.ts';
import { readTorchBin } from '../tensor/torchbin.ts';
import { copyTokenizerFiles, findTokenizerDir } from '../tokenizers/files.ts';

export const CONFIG_FILE = 'config.json';
export const SAFETENSORS_FILE = 'model.safetensors';
export const TORCH_BIN_FILE = 'pytorch_model.bin';

/** Reads every tensor of a .safetensors or torch.save (.bin/.pt) file. Errors name the file. */
export function readStateDict(file: string): Map<string, Tensor> {
  if (file.endsWith('.safetensors')) {
    using f = new SafetensorsFile(file);
    const out = new Map<string, Tensor>();
    for (const name of f.names) {
      const raw = f.read(name);
      out.set(name, fromBuffer(raw.data, raw.shape, raw.dtype));
    }
    return out;
  }
  return readTorchBin(file);
}

// Buffers some HF versions persist; they carry no learned state.
const IGNORED_SUFFIXES = ['embeddings.position_ids', 'embeddings.token_type_ids'];

/**
 * Maps checkpoint keys onto drhard's names: strips DataParallel's `module.`, renames TF-era `gamma`/`beta`,
 * adds the `roberta.`/`bert.` prefix to bare-encoder checkpoints (RobertaModel.save_pretrained), drops buffers.
 */
export function normalizeKeys(sd: Map<string, Tensor>, modelType: 'roberta' | 'bert'): { map: Map<string, Tensor>; ignored: string[] } {
  const raw = [...sd.keys()];
  const stripModule = raw.length > 0 && raw.every((k) => k.startsWith('module.'));
  const keys = stripModule ? raw.map((k) => k.slice('module.'.length)) : raw;
  const bare = !keys.some((k) => k.startsWith(`${modelType}.`)) && keys.some((k) => k.startsWith('embeddings.') || k.startsWith('encoder.'));
  const map = new Map<string, Tensor>();
  const ignored: string[] = [];
  for (const [k0, t] of sd) {
    let k = stripModule ? k0.slice('module.'.length) : k0;
    if (IGNORED_SUFFIXES.some((s) => k.endsWith(s))) {
      ignored.push(k0);
      t.dispose();
      continue;
    }
    if (bare && (k.startsWith('embeddings.') || k.startsWith('encoder.') || k.startsWith('pooler.'))) k = `${modelType}.${k}`;
    k = k.replace(/LayerNorm\.gamma$/, 'LayerNorm.weight').replace(/LayerNorm\.beta$/, 'LayerNorm.bias');
    map.set(k, t);
  }
  return { map, ignored };
}

/** The weights file of a model directory: model.safetensors preferred, else pytorch_model.bin. */
export function weightsFile(dir: string): string {
  for (const f of [SAFETENSORS_FILE, TORCH_BIN_FILE]) {
    const p = path.join(dir, f);
    if (fs.existsSync(p)) return p;
  }
  throw new DrhardInputError(`no ${SAFETENSORS_FILE} or ${TORCH_BIN_FILE} in the model directory`, { file: dir });
}

export interface LoadedModel {
  model: DotModel;
  /** Keys that did not match (empty unless `strict: false`), and checkpoint buffers that were skipped. */
  report: LoadReport & { ignored: string[]; file: string };
}

/**
 * Loads a model directory (config.json + weights). With `strict` (default) any missing or unexpected key is a
 * DrhardInputError naming them all; with `strict: false` missing parameters keep their fresh initialization
 * (e.g. the head when starting from a plain roberta-base) and the lists are returned.
 */
export function loadModel(
  dir: string,
  opts: { strict?: boolean; device?: string; file?: string; mlmHead?: boolean; pooling?: 'first' | 'mean' | undefined } = {},
): LoadedModel {
  // `mlmHead` overrides config.json: pretraining adds the head to an encoder, fine-tuning leaves a pretraining one's out.
  const read = readConfig(path.join(dir, CONFIG_FILE));
  const withMlm = opts.mlmHead === undefined ? read : { ...read, mlmHead: opts.mlmHead };
  const file = opts.file ?? weightsFile(dir);
  const { map, ignored } = normalizeKeys(readStateDict(file), withMlm.modelType);
  let model: DotModel | undefined;
  try {
    // Non-strict loads (training from a plain encoder) keep their fresh head; strict ones resolve plain encoders.
    const plain = (opts.strict ?? true)
      ? resolvePlainEncoder(withMlm, map.keys(), path.join(dir, CONFIG_FILE), file, { pooling: opts.pooling })
      : { config: opts.pooling !== undefined ? { ...withMlm, pooling: opts.pooling } : withMlm, skip: () => false, plain: false };
    const config = plain.config;
    for (const k of [...map.keys()]) {
      if (plain.skip(k)) {
        ignored.push(k);
        map.get(k)!.dispose();
        map.delete(k);
      }
    }
    model = createModel(config);
    const own = model.stateDict();
    const report: LoadReport = {
      missing: [...own.keys()].filter((k) => !map.has(k)),
      unexpected: [...map.keys()].filter((k) => !own.has(k)),
    };
    if ((opts.strict ?? true) && (report.missing.length > 0 || report.unexpected.length > 0)) {
      const headOff = !config.embeddingHead && report.unexpected.some((k) => k.startsWith('embeddingHead.'));
      const hint = headOff ? ` (the weights have a head: set "embedding_head": true in ${path.join(dir, CONFIG_FILE)})` : '';
      throw new DrhardInputError(`checkpoint does not match the ${config.modelType} config: ${describeReport(report)}${hint}`, { file });
    }
    for (const [k, t] of map) {
      const p = own.get(k);
      if (p && p.shape.join(',') !== t.shape.join(',')) {
        throw new DrhardInputError(`shape [${t.shape.join(', ')}] does not match the config's [${p.shape.join(', ')}]`, { file, field: k });
      }
    }
    model.loadStateDict(new Map([...map].filter(([k]) => own.has(k))), { strict: false });
    if (opts.device) model.to(opts.device);
    return { model, report: { ...report, ignored, file } };
  } catch (e) {
    model?.dispose();
    throw e;
  } finally {
    for (const t of map.values()) t.dispose();
  }
}

/** Raw little-endian bytes of a tensor (float16/bfloat16 come out as their 16-bit words: the safetensors payload). */
function toBytes(t: Tensor): Uint8Array {
  const d = t.data();
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** Writes tensors as safetensors (atomically), one at a time. */
export function saveStateDict(file: string, tensors: Map<string, Tensor>, metadata: Record<string, string> = { format: 'pt' }): void {
  writeSafetensors(
    file,
    [...tensors].map(([name, t]) => [
      name,
      { dtype: t.dtype as StDType, shape: t.shape, bytes: () => toBytes(t) },
    ]),
    metadata,
  );
}

export interface SaveModelOptions {
  /**
   * Where the model's tokenizer is: a path, or candidates tried in order (undefined entries skipped), each a model
   * or tokenizer directory, a tokenizer.json file, or a dataset directory (see findTokenizerDir). The first hit's
   * files are copied into the model directory; none found → no tokenizer is written.
   */
  tokenizer?: string | ReadonlyArray<string | null | undefined>;
}

/**
 * Writes `dir/model.safetensors`, the tokenizer files (when `opts.tokenizer` leads to one), then `dir/config.json`
 * (with "architectures": ["RobertaDot"|"BertDot"] and drhard's pooling/head fields), each atomically; config.json
 * comes last, so a directory with one is complete. Other files in `dir` are left alone. Returns where the
 * tokenizer was copied from (null: none).
 */
export function saveModel(model: DotModel, dir: string, extraConfig: Record<string, unknown> = {}, opts: SaveModelOptions = {}): { tokenizer: string | null } {
  fs.mkdirSync(dir, { recursive: true });
  saveStateDict(path.join(dir, SAFETENSORS_FILE), model.stateDict());
  let tokenizer: string | null = null;
  if (opts.tokenizer !== undefined) {
    const found = findTokenizerDir(typeof opts.tokenizer === 'string' ? [opts.tokenizer] : opts.tokenizer);
    if (found !== undefined) {
      copyTokenizerFiles(found, dir);
      tokenizer = found;
    }
  }
  writeFileAtomic(path.join(dir, CONFIG_FILE), `${JSON.stringify({ ...configToJson(model.config), ...extraConfig }, null, 2)}\n`);
  return { tokenizer };
}
