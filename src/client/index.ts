// Public entry of the Flo client: `import { connect } from '@flo-stream/flo/client'`.
export { connect, FloClient, CLIENT_DEFAULTS, type ClientOptions, type ProduceRequest, type ClusterInfo, type ClusterHealth, type MemberSummary, type RestartCheck, type RetentionRuleSpec } from './client.js';
export { Subscription, type SubscribeOptions, type SubscriptionRetry } from './subscription.js';
export { ProduceOutcomeUnknownError } from './produce-outcome.js';
export type { RoutingTable, Topology } from './topology.js';
export { FloEvent, toEventJson, type EventJson } from '../common/event.js';
export { FloError, ERROR_CATALOGUE, type ErrorCode } from '../common/errors.js';
export { formatEventId, parseEventId } from '../common/ids.js';
