// Optimizers (HF AdamW, DRhard LAMB), the linear warmup/decay schedule, gradient clipping and state files.
export * from './optimizer.ts';
export * from './adamw.ts';
export * from './lamb.ts';
export * from './schedule.ts';
export * from './clip.ts';
export * from './state.ts';
