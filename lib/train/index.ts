// msam.train and what goes with it: the configuration schema, presets, resolution and the loop.
export { train, trainLayers, evaluate, buildSchedule, totalStepsOf, checkpointFile, checkpointConfig, runFiles, NonFiniteLossError } from './trainer';
export type { TrainInput, TrainHooks, TrainResult, StepInfo, EpochMetrics, EvaluationInfo } from './trainer';
export { STOP_SIGNALS, PREEMPTED_EXIT_CODE, INTERRUPTED_EXIT_CODE, type StopSignal } from './stop';
export { runSplits, splitValidation, VALIDATION_SEED } from './split';
export { corruptLabels, type LabelNoiseReport } from './label-noise';
export { trainConfigSchema, shardsOf, phaseAt, METHODS, DATASETS, MODELS } from './config';
export type { TrainConfig, TrainConfigInput, TrainConfigLayer, Method } from './config';
export { presets, PRESET_NAMES, DEFAULT_PRESET, type Preset, type PresetName } from './presets';
export { resolveTrainConfig, readConfigFile, setPath, ConfigError, type ConfigLayer, type ConfigIssue } from './resolve';
export { buildModel, type ModelContext } from './models';
export { loadData, STATS, type LoadedData } from './datasets';
