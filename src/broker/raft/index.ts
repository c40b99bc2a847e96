// Public surface of the pure Raft core.
export { RaftCore } from './core.js';
export * from './messages.js';
export * from './config.js';
export * from './membership.js';
export { MemoryStorage, bootstrapState, EMPTY_HARD_STATE, EMPTY_SNAPSHOT, type LogStorage } from './storage.js';
export { SeededRandom, type RandomSource } from './random.js';
export type { ProposeResult, RefusalReason } from './proposals.js';
export { ProgressState } from './progress.js';
