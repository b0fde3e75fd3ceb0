// Export of a drhard model directory to other toolkits' layouts. sentence-transformers: modules.json chaining
// 0_Transformer (HF encoder weights + tokenizer), 1_Pooling, and for DRhard's head 2_Dense + 3_LayerNorm, so that
// SentenceTransformer(dir).encode(texts) computes the embeddings drhard computes for the same token ids.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { publishDir, writeFileAtomic } from '../util/fsx.ts';
import { DrhardInputError } from '../util/errors.ts';
import type { Tensor } from '../tensor/index.ts';
import { copyTokenizerFiles, findTokenizerDir } from '../tokenizers/files.ts';
import { loadModel, saveStateDict, CONFIG_FILE, SAFETENSORS_FILE } from './checkpoint.ts';
import { configToJson } from './config.ts';

export interface SentenceTransformersExportOptions {
  /** Pooling for a plain HF encoder without DRhard's head (see loadModel); a drhard model keeps its own. */
  pooling?: 'first' | 'mean' | undefined;
  /** sentence-transformers' max_seq_length (default: every position the model has: RoBERTa max_position_embeddings − pad − 1). */
  maxSeqLength?: number | undefined;
  /** Where the tokenizer is, when the model directory has none (a tokenizer or dataset directory). */
  tokenizer?: string | undefined;
  /** Versions recorded in config_sentence_transformers.json's __version__. */
  versions?: Record<string, string>;
}

export interface SentenceTransformersExport {
  modules: string[];
  dim: number;
  pooling: 'first' | 'mean';
  maxSeqLength: number;
}

/** drhard-only config.json keys: a plain HF config has none of them. */
const DRHARD_KEYS = ['pooling', 'embedding_head', 'output_embedding_size', 'mlm_head'];

const json = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;

/**
 * Writes `out` (published atomically) from the model directory `modelDir`. Layout, as SentenceTransformer.save()
 * writes it and SentenceTransformer(dir) reads it:
 *   modules.json, config_sentence_transformers.json (similarity "dot": DRhard scores by inner product)
 *   0_Transformer/  config.json (HF RobertaModel/BertModel), model.safetensors (keys without the `roberta.` prefix),
 *                   tokenizer files, sentence_bert_config.json (max_seq_length; read from the module's directory)
 *   1_Pooling/config.json  CLS (first) or mean pooling
 *   2_Dense/ + 3_LayerNorm/  only with DRhard's embeddingHead + norm: Linear (identity activation) then
 *                   LayerNorm(dimension), eps 1e-5 both in DRhard and in sentence_transformers.models.LayerNorm.
 */
export async function exportSentenceTransformers(modelDir: string, out: string, opts: SentenceTransformersExportOptions = {}): Promise<SentenceTransformersExport> {
  const tokDir = findTokenizerDir([modelDir, opts.tokenizer]);
  if (tokDir === undefined) {
    throw new DrhardInputError('no tokenizer files in the model directory: sentence-transformers needs one (pass --tokenizer DIR)', { file: modelDir });
  }
  const { model } = loadModel(modelDir, { pooling: opts.pooling });
  try {
    const c = model.config;
    const positions = c.modelType === 'roberta' ? c.maxPositionEmbeddings - c.padTokenId - 1 : c.maxPositionEmbeddings;
    const maxSeqLength = opts.maxSeqLength ?? positions;
    if (!(maxSeqLength >= 2 && maxSeqLength <= positions)) {
      throw new DrhardInputError(`max_seq_length ${maxSeqLength} must be in [2, ${positions}] (the model's positions)`, { file: modelDir });
    }
    const sd = model.stateDict();
    const prefix = `${c.modelType}.`;
    const encoder = new Map<string, Tensor>();
    for (const [k, t] of sd) if (k.startsWith(prefix)) encoder.set(k.slice(prefix.length), t);
    const hfConfig = configToJson(c);
    for (const k of DRHARD_KEYS) delete hfConfig[k];
    hfConfig['architectures'] = [c.modelType === 'roberta' ? 'RobertaModel' : 'BertModel'];
    const modules: Array<{ idx: number; name: string; path: string; type: string }> = [];
    const add = (dir: string, type: string): string => {
      modules.push({ idx: modules.length, name: String(modules.length), path: dir, type: `sentence_transformers.models.${type}` });
      return dir;
    };
    const transformerDir = add('0_Transformer', 'Transformer');
    const poolingDir = add('1_Pooling', 'Pooling');
    const head = model.embeddingHead !== null && model.norm !== null;
    const denseDir = head ? add('2_Dense', 'Dense') : null;
    const normDir = head ? add('3_LayerNorm', 'LayerNorm') : null;
    await publishDir(out, (tmp) => {
      const t = path.join(tmp, transformerDir);
      fs.mkdirSync(t);
      saveStateDict(path.join(t, SAFETENSORS_FILE), encoder);
      writeFileAtomic(path.join(t, CONFIG_FILE), json(hfConfig));
      copyTokenizerFiles(tokDir, t);
      writeFileAtomic(path.join(t, 'sentence_bert_config.json'), json({ max_seq_length: maxSeqLength, do_lower_case: false }));
      const p = path.join(tmp, poolingDir);
      fs.mkdirSync(p);
      writeFileAtomic(
        path.join(p, CONFIG_FILE),
        json({
          word_embedding_dimension: c.hiddenSize,
          pooling_mode_cls_token: c.pooling === 'first',
          pooling_mode_mean_tokens: c.pooling === 'mean',
          pooling_mode_max_tokens: false,
          pooling_mode_mean_sqrt_len_tokens: false,
          pooling_mode_weightedmean_tokens: false,
          pooling_mode_lasttoken: false,
          include_prompt: true,
        }),
      );
      if (denseDir !== null && normDir !== null) {
        const d = path.join(tmp, denseDir);
        fs.mkdirSync(d);
        writeFileAtomic(
          path.join(d, CONFIG_FILE),
          json({ in_features: c.hiddenSize, out_features: c.outputEmbeddingSize, bias: true, activation_function: 'torch.nn.modules.linear.Identity' }),
        );
        saveStateDict(path.join(d, SAFETENSORS_FILE), new Map([['linear.weight', sd.get('embeddingHead.weight')!], ['linear.bias', sd.get('embeddingHead.bias')!]]));
        const n = path.join(tmp, normDir);
        fs.mkdirSync(n);
        writeFileAtomic(path.join(n, CONFIG_FILE), json({ dimension: c.outputEmbeddingSize }));
        saveStateDict(path.join(n, SAFETENSORS_FILE), new Map([['norm.weight', sd.get('norm.weight')!], ['norm.bias', sd.get('norm.bias')!]]));
      }
      writeFileAtomic(path.join(tmp, 'modules.json'), json(modules));
      writeFileAtomic(
        path.join(tmp, 'config_sentence_transformers.json'),
        json({ __version__: { drhard: 'export', ...(opts.versions ?? {}) }, prompts: {}, default_prompt_name: null, similarity_fn_name: 'dot' }),
      );
    });
    return { modules: modules.map((m) => m.type), dim: model.dim, pooling: c.pooling, maxSeqLength };
  } finally {
    model.dispose();
  }
}
