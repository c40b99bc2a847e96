// Builds the broker's HTTP/WebSocket API on a given event log. It never
// listens: the server (broker.ts) listens, and tests call inject(). Every
// request passes one guard first: Host and Origin (origin.ts), then the bearer
// token (auth.ts), then the URL must be well-formed UTF-8, then an upgrade must be
// a well-formed one to a WebSocket route (websocket-guard.ts), then the body must fit
// the broker-wide budget of bodies being received (limits.ts), which WebSocket
// messages being received draw on too.
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import websocket from '@fastify/websocket';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { MAX_REQUEST_BYTES } from '../../common/bounds.js';
import { FloError } from '../../common/errors.js';
import { adminRoutes, type AdminContext } from './admin.js';
import { Authenticator, requiredRole, type AccessToken } from './auth.js';
import { BodyBudget, capConnections, clientErrorHandler, serverOptions, type ServerLimits } from './limits.js';
import { budgetWebSocketMessages, checkUpgrade } from './websocket-guard.js';
import { OriginPolicy, type OriginPolicyOptions } from './origin.js';
import { pathOf, sendProblem } from './problem.js';
import { groupRoutes } from './groups.js';
import { produceRoutes } from './produce.js';
import { readRoutes } from './read.js';
import { subscribeRoutes } from './subscribe.js';
import { SubscriberBuffers, type SubscriberLimits } from './subscriber-buffers.js';

export interface AppOptions extends AdminContext, OriginPolicyOptions, ServerLimits {
  readonly logger: Logger;
  /** Bearer tokens and their roles; none = an open broker. */
  readonly authTokens?: readonly AccessToken[] | undefined;
  /** What stalled subscribers may hold and when they are cut (subscriber-buffers.ts); defaults from bounds.ts. */
  readonly subscriberLimits?: Partial<SubscriberLimits> | undefined;
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const logger = options.logger.child({ component: 'api' });
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MAX_REQUEST_BYTES,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false }, plugins: [addJsTypeKeyword] },
    // Our own refusal below: fastify's 503 while closing has no problem body.
    return503OnClosing: false,
    ...serverOptions(options),
    clientErrorHandler: clientErrorHandler(logger),
    frameworkErrors: (error, request, reply) => sendProblem(request, reply, error),
  });
  capConnections(app.server, options.maxConnections, logger);
  await app.register(websocket, { options: { maxPayload: MAX_REQUEST_BYTES, perMessageDeflate: false }, errorHandler: onWebSocketError });
  app.setErrorHandler((error, request, reply) => sendProblem(request, reply, error));
  app.setNotFoundHandler((request, reply) =>
    sendProblem(request, reply, new FloError('FLO_ERR_ROUTE_NOT_FOUND', `${request.method} ${pathOf(request.url)} is not part of the Flo API (see docs/api.md)`)));
  replaceJsonParser(app);
  const origins = new OriginPolicy(options);
  const authenticator = new Authenticator(options.authTokens ?? []);
  const bodies = new BodyBudget(options.maxBodyBytesInFlight);
  const websocketRoutes = new Set<string>();
  app.addHook('onRoute', (route) => {
    if (route.websocket === true || route.wsHandler !== undefined) websocketRoutes.add(route.url);
  });
  app.websocketServer.on('connection', (socket: WebSocket, request: IncomingMessage) => budgetWebSocketMessages(socket, request.socket, bodies));
  // Requests still arriving while the broker closes (kept-alive connections through a Service
  // during a rollout) are refused with a documented problem, and their connection is closed.
  let closing = false;
  app.addHook('preClose', async () => { closing = true; });
  app.addHook('onRequest', async (request, reply) => {
    request.log.debug({ method: request.method, url: request.url }, 'request');
    if (closing) {
      reply.header('connection', 'close');
      throw new FloError('FLO_ERR_SHUTTING_DOWN', 'the broker is shutting down; retry on another broker or once it is back');
    }
    if (request.headers.host === undefined && request.raw.httpVersion !== '1.0') throw new FloError('FLO_ERR_REQUEST_INVALID', 'an HTTP/1.1 request needs a Host header');
    origins.check(request.headers.host, request.headers.origin);
    authenticator.check(request.headers.authorization, requiredRole(request.method, request.routeOptions.url));
    checkUrlEncoding(request);
    checkUpgrade(request, websocketRoutes);
    refuseDataWhileUnready(request.routeOptions.url, options.cluster);
    const release = bodies.admit(request.headers);
    if (release) reply.raw.once('close', release);
  });
  produceRoutes(app, options.log);
  readRoutes(app, options.log);
  subscribeRoutes(app, options.log, new SubscriberBuffers(options.subscriberLimits), () => options.cluster?.unready() ?? null);
  groupRoutes(app, options.log);
  adminRoutes(app, options);
  return app;
}

/** `%ff` decodes to U+FFFD in the query parser, so two different namespaces would meet: refuse what is not UTF-8. */
function checkUrlEncoding(request: FastifyRequest): void {
  try {
    decodeURIComponent(request.url);
  } catch {
    throw new FloError('FLO_ERR_REQUEST_INVALID', 'the URL has a percent-encoding that is not UTF-8 (e.g. %ff or %zz)');
  }
}

/** JSON bodies are decoded strictly: invalid UTF-8 is refused, never replaced by U+FFFD. */
function replaceJsonParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: MAX_REQUEST_BYTES }, (request, body, done) => {
    const bytes = body as Buffer;
    if (!isUtf8(bytes)) {
      done(new FloError('FLO_ERR_REQUEST_INVALID', 'the body is not valid UTF-8'), undefined);
      return;
    }
    void parseJson(request, bytes.toString('utf8'), done);
  });
}

/**
 * A socket error on an open WebSocket is nearly always a peer sending a malformed
 * frame (ws's WS_ERR_* codes): a warning with the peer, no stack. Anything else is ours.
 */
function onWebSocketError(this: FastifyInstance, error: Error & { code?: string }, socket: WebSocket, request: FastifyRequest): void {
  if (error.code?.startsWith('WS_ERR_')) request.log.warn({ peer: request.socket.remoteAddress, code: error.code, reason: error.message }, 'malformed WebSocket frame');
  else request.log.error({ err: error, peer: request.socket.remoteAddress }, 'WebSocket handler failed');
  socket.terminate();
}

/**
 * `jsType: "string"` checks a JSON type without ajv's type coercion (which the
 * query strings need and would turn a body's `"data": 42` into "42").
 */
function addJsTypeKeyword<T>(ajv: T): T {
  (ajv as { addKeyword: (definition: object) => void }).addKeyword({
    keyword: 'jsType',
    schemaType: 'string',
    errors: true,
    validate: function validate(expected: string, data: unknown): boolean {
      const ok = typeof data === expected;
      if (!ok) (validate as unknown as { errors: object[] }).errors = [{ keyword: 'jsType', message: `must be a ${expected}`, params: { type: expected } }];
      return ok;
    },
  });
  return ajv;
}

/** Routes that read or write events and group positions (not the cluster view, probes or admin calls). */
const DATA_ROUTE = /^\/v1\/(events|subscribe|produce|groups)(\/|$)/;

/**
 * A member that is joining (still catching up), draining, drained or removed would answer from a replica
 * that is missing events or no longer kept: it refuses, so the client goes to another broker.
 */
function refuseDataWhileUnready(routeUrl: string | undefined, cluster: AppOptions['cluster']): void {
  if (routeUrl === undefined || !DATA_ROUTE.test(routeUrl)) return;
  const unready = cluster?.unready();
  if (unready) throw new FloError('FLO_ERR_UNAVAILABLE', `${unready}: it serves no events; use another broker of the cluster`);
}
