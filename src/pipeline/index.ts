// The package's main entry (`import { D2C } from 'd2c'`): the pipeline, saving images, evaluation
// and training. The tensor library is its own entry, `d2c/torch` (src/torch/index.ts).
export { DATASETS, type DatasetName, type OpenOptions, openImageSet } from '../data/open.ts';
export { encodePng, type GridOptions, makeGrid, saveImageGrid, saveImages, toUint8Batch, type Uint8Batch } from '../data/png.ts';
export {
  balancedClasses,
  type EvaluateOptions,
  type EvaluationReport,
  embedImageSet,
  evaluateSamples,
  type Reference,
  realImageSampler,
  type Sampler,
} from '../eval/evaluate.ts';
export type { FeatureNetwork } from '../eval/feature_network.ts';
export {
  classifierFeatureNetwork,
  DEFAULT_CLASSIFIER_DIR,
  FmnistClassifier,
  loadClassifier,
} from '../eval/fmnist_classifier.ts';
export { type FeatureStats, featureStats, frechetDistance, loadStats, saveStats } from '../eval/frechet.ts';
export { inceptionFeatureNetwork, loadInception } from '../eval/inception_network.ts';
export { inceptionScore, kernelDistance, precisionRecall } from '../eval/metrics.ts';
export type { Recipe } from '../train/recipe.ts';
export { STAGE1_RECIPE, stage1Task } from '../train/stage1_task.ts';
export { STAGE2_RECIPE, stage2Task } from '../train/stage2_task.ts';
export { type TokenizerRecipe, tokenizerTask } from '../train/tokenizer_task.ts';
export { runTraining, type Trainable, type TrainOptions, type TrainResult } from '../train/trainer.ts';
export { buildTokenCache, type CacheMeta, loadTokenCache, readCacheMeta } from './cache.ts';
export {
  D2C,
  type D2CModelInfo,
  type GenerateOptions,
  type GenerateProgress,
  type GenerateResult,
  type Stage1Options,
  type Stage2Options,
} from './d2c.ts';
export { PACKAGE_ROOT, resolveModelDir, SHIPPED_MODELS_DIR, shippedModels } from './model_dir.ts';
export { buildPart, loadPart, type PartConfig, type PartKind, readPartConfig } from './parts.ts';
