// msam.dist: data-parallel training over libtorch's c10d (README, "Multi-process training"). The
// namespace keeps the name PyTorch users import torch.distributed as; the folder is lib/distributed
// (and csrc/distributed), since dist/ is where tsc writes the build.
export { ProcessGroup, initProcessGroup, backends, type Backend, type InitOptions } from './group';
export { worldFromEnv, type WorldEnv } from './env';
export { rankShare, splitRange, type RankShare } from './split';
export { launch, freePort, type LaunchOptions, type LaunchResult } from './launch';
