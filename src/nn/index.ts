// Neural-network building blocks: the Module base (HF-named parameters, state dicts) and basic layers.
export * from './module.ts';
export * from './layers.ts';
