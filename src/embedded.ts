// Embedded entry point: `const broker = await Broker.start({ dataDir })` runs
// the same broker as `flo server`, inside the application's process.
export { Broker, type BrokerOptions, type ProduceInput } from './broker/broker.js';
export type { RetentionRuleInput } from './broker/partitions/retention.js';
export { parseAccessTokens, type AccessToken, type Role } from './broker/api/auth.js';
export { FloEvent } from './common/event.js';
export { FloError } from './common/errors.js';
