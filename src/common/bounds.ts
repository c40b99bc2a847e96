// Every named limit of the broker and client, with its default, in one place.
// A limit that is hit raises a typed FloError; nothing in Flo grows without bound.

/** Longest namespace accepted, in UTF-8 bytes. */
export const MAX_NAMESPACE_BYTES = 1024;
/** Longest namespace glob accepted, in characters. */
export const MAX_GLOB_CHARS = 1024;
/** Most patterns one glob may expand to through braces ({a,b}, {1..9}); counted before expanding. */
export const MAX_GLOB_EXPANSIONS = 64;
/** Most characters of all the patterns a glob expands to together: with MAX_NAMESPACE_BYTES it bounds the steps of one match. */
export const MAX_GLOB_EXPANDED_CHARS = 4096;
/** Default largest event payload (`--max-event-bytes`). */
export const DEFAULT_MAX_EVENT_BYTES = 1024 * 1024;
/** Most events in one produce request. */
export const MAX_EVENTS_PER_BATCH = 10_000;
/** Largest produce request body (also bounds the WebSocket frame the client sends). */
export const MAX_REQUEST_BYTES = 64 * 1024 * 1024;
/** Largest WebSocket message either side accepts: a request, or a page of groups (one group may hold an event of up to MAX_REQUEST_BYTES). */
export const MAX_FRAME_BYTES = MAX_REQUEST_BYTES + 1024 * 1024;
/** Longest cluster id, in UTF-8 bytes (it travels in every peer HELLO, transport/handshake.ts). */
export const MAX_CLUSTER_ID_BYTES = 128;
/** Shortest bearer token accepted (api/auth.ts): a guessable token is no protection (use e.g. `openssl rand -hex 32`). */
export const MIN_TOKEN_CHARS = 16;
/** Largest broker-to-broker (Raft) frame accepted or sent; a snapshot must fit in one until snapshots are streamed. */
export const MAX_PEER_FRAME_BYTES = 64 * 1024 * 1024;
/** Default number of partitions of a new data directory. */
export const DEFAULT_PARTITIONS = 8;
/** Most partitions a data directory may have (ids carry 4 hex digits). */
export const MAX_PARTITIONS = 4096;
/** Default read cache size (`--cache-bytes`). */
export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;
/** Bytes of appended events that may wait for the next group commit before produce is refused. */
export const MAX_PENDING_APPEND_BYTES = 256 * 1024 * 1024;
/** Largest write batch of one group commit: a bigger backlog is split over several commits. */
export const MAX_COMMIT_BATCH_BYTES = 8 * 1024 * 1024;
/** Default and largest page of a read request. */
export const DEFAULT_READ_LIMIT = 1000;
export const MAX_READ_LIMIT = 10_000;
/** Bytes of a read page before it is cut short (keeps reply size and memory bounded). */
export const MAX_READ_PAGE_BYTES = 4 * 1024 * 1024;
/** Bytes a subscription may have queued on its socket (not yet taken by the kernel) before the broker stops reading for it. */
export const SUBSCRIBER_HIGH_WATER_BYTES = 1024 * 1024;
/** Bytes all subscriptions together may have queued on their sockets; beyond it every subscriber's next write waits. */
export const SUBSCRIBERS_MAX_BUFFERED_BYTES = 128 * 1024 * 1024;
/** How long a subscriber's queued bytes may sit without reaching the kernel before it is cut (it can resume from the cursor it is told). */
export const SUBSCRIBER_STALL_TIMEOUT_MS = 30_000;
/** How long a cut subscriber's socket stays open for it to read why (and from where to resume) before it is destroyed. */
export const SUBSCRIBER_CLOSE_GRACE_MS = 5_000;
/** Most live subscriptions per broker. */
export const MAX_SUBSCRIPTIONS = 10_000;
/** Most retention rules. */
export const MAX_RETENTION_RULES = 256;
/** Most distinct namespaces a glob read may expand to before it falls back to a partition scan. */
export const MAX_INDEXED_NAMESPACES_PER_READ = 4096;
/** Glob matching steps (see glob.ts) done in one go before yielding to the event loop: a few milliseconds. */
export const MATCH_STEPS_PER_SLICE = 1 << 20;
/** Most globs whose matched namespaces the broker remembers for reads (subscriptions keep their own). */
export const MAX_CACHED_SELECTIONS = 256;
/** Most matched namespace ids those remembered globs hold together (about 40 bytes each). */
export const MAX_CACHED_SELECTION_IDS = 1_000_000;

// ---- HTTP server limits (`flo server` flags of the same names; docs/api.md "Limits")

/** Time a client has to send one whole request, headers and body (`--request-timeout`); then 408 and the connection is closed. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Time a client has to send a request's headers; never more than the request timeout. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
/** How long an idle keep-alive connection stays open (`--keep-alive-timeout`): fastify's default, longer than common balancers' 60 s. */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 72_000;
/** Most open client connections (`--max-connections`); more are answered 503 and closed. Above MAX_SUBSCRIPTIONS so every subscriber fits. */
export const DEFAULT_MAX_CONNECTIONS = 16_384;
/** Bytes of request bodies the broker receives at once (declared sizes; a chunked body counts as the largest allowed); more are answered 503. */
export const DEFAULT_MAX_BODY_BYTES_IN_FLIGHT = 512 * 1024 * 1024;
/** How long a socket refused at the limits (over the connection cap, a WebSocket over the body budget) may read why before it is cut. */
export const REFUSED_SOCKET_GRACE_MS = 1000;
/** Longest URL path parameter (an event id, a group name; fastify's default of 100 refused valid group names); longer ones get a 414 problem. */
export const MAX_PATH_PARAM_CHARS = 256;
