// Package entry: the client and the embeddable broker.
export * from './client/index.js';
export { Broker, type BrokerOptions, type ProduceInput } from './broker/broker.js';
export type { RetentionRuleInput } from './broker/partitions/retention.js';
