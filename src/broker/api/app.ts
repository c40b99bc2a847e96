// Builds the broker's HTTP/WebSocket API on a given event log. It never
// listens: the server (broker.ts) listens, and tests call inject().
import websocket from '@fastify/websocket';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { MAX_REQUEST_BYTES } from '../../common/bounds.js';
import { FloError } from '../../common/errors.js';
import { adminRoutes, type AdminContext } from './admin.js';
import { sendProblem } from './problem.js';
import { groupRoutes } from './groups.js';
import { produceRoutes } from './produce.js';
import { readRoutes } from './read.js';
import { subscribeRoutes } from './subscribe.js';

export interface AppOptions extends AdminContext {
  readonly logger: Logger;
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger.child({ component: 'api' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MAX_REQUEST_BYTES,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false } },
    return503OnClosing: true,
  });
  await app.register(websocket, { options: { maxPayload: MAX_REQUEST_BYTES, perMessageDeflate: false } });
  app.setErrorHandler((error, request, reply) => sendProblem(request, reply, error));
  app.setNotFoundHandler((request, reply) =>
    sendProblem(request, reply, new FloError('FLO_ERR_ROUTE_NOT_FOUND', `${request.method} ${request.url.split('?')[0]} is not part of the Flo API (see docs/api.md)`)));
  app.addHook('onRequest', async (request) => {
    request.log.debug({ method: request.method, url: request.url }, 'request');
  });
  produceRoutes(app, options.log);
  readRoutes(app, options.log);
  subscribeRoutes(app, options.log);
  groupRoutes(app, options.log);
  adminRoutes(app, options);
  return app;
}
