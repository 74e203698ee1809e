// msam.analysis: the loss landscape of a trained model (Hessian eigenvalues and trace, m-sharpness).
export {
  hessianVectorProduct,
  hessianEigenvalues,
  hessianTrace,
  mSharpness,
  type AnalysisBatch,
  type AnalysisData,
  type AnalysisProgress,
  type EigenOptions,
  type EigenResult,
  type TraceOptions,
  type TraceResult,
  type MSharpnessOptions,
  type MSharpnessResult,
} from './hessian';
export { measureSharpness, sharpnessOfCheckpoint, analysisBatches, defaultShardSize, type SharpnessOptions, type SharpnessResult, type CheckpointSharpness } from './sharpness';
export { checkpointPath, trainedConfig, loadTrainedModel } from './checkpoint';
