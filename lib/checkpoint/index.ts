// Checkpoints in the safetensors format: tensors to and from files, with JSON metadata.
export { save, type SaveOptions } from './save';
export { load, loadMetadata, type LoadOptions, type Loaded } from './load';
export { saveCheckpoint, loadCheckpoint, type CheckpointContents, type LoadedCheckpoint, type HasOptimizerState } from './checkpoint';
export { CheckpointError } from './errors';
export type { TensorDict, HasStateDict, TensorSource } from './source';
