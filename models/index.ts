// msam.models: model builders assembled from native modules, so a model's whole forward (and the
// mSAM step over it) runs in C++. State-dict keys follow the PyTorch models they mirror.
export { resnet18, resnet34, resnet50, resnet101, type ResNetOptions } from './resnet';
export { wideResNet, type WideResNetOptions } from './wide-resnet';
export { vit, type ViTOptions, type ViTVariant } from './vit';
export { textClassifier, type TextClassifierOptions } from './text';
export { smallCnn, mlp, type SmallCnnOptions, type MlpOptions } from './small';
export * as init from './init';
export { fromPretrained, savePretrained, PretrainedError, type FromPretrainedOptions, type Pretrained, type ImagePreprocessing, type PretrainedArch, type PretrainedErrorCode, type LoadReport } from './pretrained';
