// Encoders (RoBERTa/BERT exact to HF), dual-encoder models, checkpoints, batch encoding and gradient caching.
export * from './config.ts';
export * from './encoder.ts';
export * from './dual.ts';
export * from './checkpoint.ts';
export * from './encode.ts';
export * from './gradcache.ts';
export * from './init.ts';
export * from './mlm.ts';
export { encodeSafetensors, parseSafetensors, readSafetensors, SafetensorsFile, writeSafetensors } from './safetensors.ts';
export type { LazyTensor, RawTensor, SafetensorsEntry, SafetensorsHeader, StDType } from './safetensors.ts';
export { parseTorchBin, readTorchBin } from '../tensor/torchbin.ts';
