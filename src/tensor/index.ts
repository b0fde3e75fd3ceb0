// Public tensor API: Tensor, creation, functional ops, scopes, runtime settings, serialization, faiss.
export * from './tensor.ts';
export * from './runtime.ts';
export * from './serialize.ts';
export * from './faiss.ts';
