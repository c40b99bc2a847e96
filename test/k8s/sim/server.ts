// The simulator's HTTP front: routes the Kubernetes REST paths (core and named groups,
// namespaced and cluster-scoped, subresources) onto the Api, serves discovery, OpenAPI,
// tables and watches, and renders every failure as a metav1.Status.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { parse as parseYaml } from 'yaml';
import type { Api, DeleteOptions, FieldValidation, WriteOptions } from './api.js';
import * as discovery from './discovery.js';
import { decodeProtobufObject } from './protobuf.js';
import { enforceOwnerReferencePermissions } from './admission.js';
import { ADMIN_USER, Authorizer, verbOf } from './rbac.js';
import { fromScale, toScale } from './scale.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import { toTable, wantsTable } from './tables.js';
import { ApiError, badRequest, isObject, type JsonObject, type ResourceType } from './types.js';
import { serveWatch } from './watch.js';

/** Largest request body accepted (the real server's limit is 3 MiB). */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;
/** Default watch duration before the server ends the stream (clients re-watch from their resourceVersion). */
export const DEFAULT_WATCH_TIMEOUT_MS = 120_000;

interface Target {
  type: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

export interface SimServerOptions {
  host?: string;
  port?: number;
  watchTimeoutMs?: number;
  log?: (line: string) => void;
  /** Container output of a pod, for `kubectl logs` (the pod runner provides it). */
  podLogs?: (namespace: string, name: string) => string | undefined;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, 'RequestEntityTooLarge', 'the request body is too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function parseBody(raw: Buffer, contentType: string | undefined): unknown {
  if (contentType?.includes('protobuf') === true && raw.length > 0) return decodeProtobufObject(raw);
  const text = raw.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return contentType?.includes('yaml') === true ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    throw badRequest(`the body of the request was in an unknown format: ${(error as Error).message}`);
  }
}

export class SimServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private openWatches = 0;
  private suspendedAt: { host: string; port: number } | undefined;

  private readonly authorizer: Authorizer;

  constructor(private readonly api: Api, private readonly options: SimServerOptions = {}) {
    this.authorizer = new Authorizer(api);
  }

  async listen(): Promise<string> {
    const server = createServer((req, res) => { void this.handle(req, res); });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', resolve));
    const address = server.address() as AddressInfo;
    return `http://${address.address}:${address.port}`;
  }

  /** Stops answering (connections refused, open watches cut) until resume(): an API server outage. */
  async suspend(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    const address = server.address() as AddressInfo;
    this.suspendedAt = { host: address.address, port: address.port };
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async resume(): Promise<void> {
    const at = this.suspendedAt;
    if (at === undefined || this.server === undefined) return;
    const server = this.server;
    await new Promise<void>((resolve) => server.listen(at.port, at.host, resolve));
    this.suspendedAt = undefined;
  }

  watchCount(): number {
    return this.openWatches;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server && this.suspendedAt === undefined ? this.server.close(() => resolve()) : resolve()));
  }

  private send(res: ServerResponse, code: number, body: unknown, warnings: string[] = []): void {
    if (warnings.length > 0) res.setHeader('Warning', warnings.map((warning) => `299 - ${JSON.stringify(warning)}`));
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    const started = Date.now();
    try {
      const body = parseBody(await readBody(req), req.headers['content-type']);
      const target = url.pathname.startsWith('/api/') || url.pathname.startsWith('/apis/') ? this.target(url) : undefined;
      const watch = url.searchParams.get('watch');
      const user = this.authorizer.check(req.headers.authorization, target === undefined ? undefined : {
        verb: verbOf(req.method ?? 'GET', target.name !== undefined, watch === 'true' || watch === '1'),
        group: target.type.group, resource: target.type.plural,
        ...(target.subresource === undefined ? {} : { subresource: target.subresource }),
        ...(target.namespace === undefined ? {} : { namespace: target.namespace }),
        ...(target.name === undefined ? {} : { name: target.name }),
      });
      const handled = this.serveMeta(url, res) || this.serveResource(req, res, url, body, user);
      if (!handled) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    } catch (error) {
      const apiError = error instanceof ApiError ? error : new ApiError(500, 'InternalError', `internal error: ${(error as Error).stack ?? String(error)}`);
      if (!res.headersSent) this.send(res, apiError.code, apiError.toStatus());
      else res.end();
    } finally {
      this.options.log?.(`${req.method} ${url.pathname}${url.search} ${res.statusCode} ${Date.now() - started}ms`);
    }
  }

  private serveMeta(url: URL, res: ServerResponse): boolean {
    const path = url.pathname.replace(/\/$/, '');
    const registry = this.api.registry;
    const fixed: Record<string, () => unknown> = {
      '/version': () => discovery.versionInfo(),
      '/healthz': () => 'ok', '/readyz': () => 'ok', '/livez': () => 'ok',
      '/api': () => discovery.coreVersions('127.0.0.1'),
      '/apis': () => discovery.groupList(registry),
      '/openapi/v3': () => discovery.openApiRoot(registry, this.api.store.currentRevision()),
    };
    const direct = fixed[path];
    let body: unknown = direct?.();
    if (body === undefined && path.startsWith('/openapi/v3/')) body = discovery.openApiGroupVersion(registry, path.slice('/openapi/v3/'.length));
    const parts = path.split('/').filter((part) => part !== '');
    if (body === undefined && parts.length === 2 && parts[0] === 'api') body = discovery.resourceList(registry, '', parts[1]!);
    if (body === undefined && parts.length === 2 && parts[0] === 'apis') body = discovery.group(registry, parts[1]!);
    if (body === undefined && parts.length === 3 && parts[0] === 'apis') body = discovery.resourceList(registry, parts[1]!, parts[2]!);
    if (body === undefined) return false;
    this.send(res, 200, body);
    return true;
  }

  private target(url: URL): Target | undefined {
    const parts = url.pathname.split('/').filter((part) => part !== '').map(decodeURIComponent);
    let group: string;
    let version: string;
    let rest: string[];
    if (parts[0] === 'api' && parts.length >= 3) [group, version, rest] = ['', parts[1]!, parts.slice(2)];
    else if (parts[0] === 'apis' && parts.length >= 4) [group, version, rest] = [parts[1]!, parts[2]!, parts.slice(3)];
    else return undefined;
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3 && !['status', 'finalize'].includes(rest[2]!)) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const type = this.api.type(group, version, rest[0]!);
    return { type, namespace: type.namespaced ? namespace : undefined, name: rest[1], subresource: rest[2] };
  }

  private writeOptions(url: URL, user: string): WriteOptions {
    const validation = url.searchParams.get('fieldValidation');
    return {
      dryRun: url.searchParams.get('dryRun') === 'All',
      fieldValidation: (validation ?? 'Warn') as FieldValidation,
      warnings: [],
      ...(user === ADMIN_USER ? {} : {
        admit: (type, old, object) => enforceOwnerReferencePermissions(this.authorizer, this.api.registry, user, type, old, object),
      }),
    };
  }

  private serveResource(req: IncomingMessage, res: ServerResponse, url: URL, body: unknown, user: string): boolean {
    const target = this.target(url);
    if (target === undefined) return false;
    const method = req.method ?? 'GET';
    if (target.name === undefined) return this.serveCollection(req, res, url, target, body, user);
    const options = this.writeOptions(url, user);
    const { type, namespace, name, subresource } = target;
    if (subresource === 'log' && type.kind === 'Pod' && type.group === '' && method === 'GET') {
      this.api.get(type, namespace, name);
      const text = this.options.podLogs?.(namespace ?? '', name) ?? '';
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(text);
      return true;
    }
    if (subresource !== undefined && subresource !== 'status' && !(subresource === 'scale' && type.scale)) {
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    }
    if (subresource === 'scale') return this.serveScale(req, res, target, body, options);
    let result: JsonObject;
    switch (method) {
      case 'GET': {
        const object = this.api.get(type, namespace, name);
        result = wantsTable(req.headers.accept) ? toTable(type, [object], object.metadata.resourceVersion ?? '', url.searchParams.get('includeObject') === 'Object') : object;
        break;
      }
      case 'PUT':
        result = subresource === 'status' ? this.api.updateStatus(type, namespace, name, body, options) : this.api.update(type, namespace, name, body, options);
        break;
      case 'PATCH':
        result = this.api.patch(type, namespace, name, req.headers['content-type'] ?? '', body,
          { ...options, ...(subresource === 'status' ? { subresource: 'status' as const } : {}) });
        break;
      case 'DELETE':
        result = this.api.delete(type, namespace, name, this.deleteOptions(url, body));
        break;
      default: throw new ApiError(405, 'MethodNotAllowed', `method ${method} not allowed`);
    }
    this.send(res, 200, result, options.warnings);
    return true;
  }

  private deleteOptions(url: URL, body: unknown): DeleteOptions {
    const fromBody = isObject(body) ? body as DeleteOptions : {};
    const policy = url.searchParams.get('propagationPolicy') ?? fromBody.propagationPolicy;
    const grace = url.searchParams.get('gracePeriodSeconds') ?? fromBody.gracePeriodSeconds;
    return {
      ...fromBody,
      ...(policy === null || policy === undefined ? {} : { propagationPolicy: policy as DeleteOptions['propagationPolicy'] }),
      ...(grace === null || grace === undefined ? {} : { gracePeriodSeconds: Number(grace) }),
      dryRun: url.searchParams.get('dryRun') === 'All' || (Array.isArray((fromBody as JsonObject)['dryRun'])),
    };
  }

  private serveScale(req: IncomingMessage, res: ServerResponse, target: Target, body: unknown, options: WriteOptions): boolean {
    const { type, namespace } = target;
    const name = target.name!;
    const object = this.api.get(type, namespace, name);
    if (req.method === 'GET') {
      this.send(res, 200, toScale(type, object));
      return true;
    }
    const scale = req.method === 'PATCH' ? this.api.applyPatch(type, toScale(type, object), req.headers['content-type'] ?? '', body) : body;
    const updated = this.api.update(type, namespace, name, fromScale(type, object, scale), options);
    this.send(res, 200, toScale(type, updated));
    return true;
  }

  private serveCollection(req: IncomingMessage, res: ServerResponse, url: URL, target: Target, body: unknown, user: string): boolean {
    const { type, namespace } = target;
    const labels = parseLabelSelector(url.searchParams.get('labelSelector'));
    const fields = parseFieldSelector(url.searchParams.get('fieldSelector'));
    const predicate = (object: Parameters<typeof labels>[0]): boolean => labels(object) && fields(object);
    const method = req.method ?? 'GET';
    if (method === 'POST') {
      const options = this.writeOptions(url, user);
      this.send(res, 201, this.api.create(type, namespace, body, options), options.warnings);
      return true;
    }
    const watch = url.searchParams.get('watch');
    if (method === 'GET' && (watch === 'true' || watch === '1')) {
      const timeoutSeconds = url.searchParams.get('timeoutSeconds');
      this.openWatches += 1;
      serveWatch(this.api, {
        type, namespace, predicate, resourceVersion: url.searchParams.get('resourceVersion') ?? undefined,
        timeoutMs: timeoutSeconds === null ? (this.options.watchTimeoutMs ?? DEFAULT_WATCH_TIMEOUT_MS) : Number(timeoutSeconds) * 1000,
        table: wantsTable(req.headers.accept),
      }, req, res, () => { this.openWatches -= 1; });
      return true;
    }
    const items = this.api.list(type, namespace).filter(predicate);
    if (method === 'DELETE') {
      for (const item of items) this.api.delete(type, item.metadata.namespace, item.metadata.name ?? '', this.deleteOptions(url, body));
      this.send(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' });
      return true;
    }
    if (method !== 'GET') throw new ApiError(405, 'MethodNotAllowed', `method ${method} not allowed`);
    const resourceVersion = String(this.api.store.currentRevision());
    if (wantsTable(req.headers.accept)) {
      this.send(res, 200, toTable(type, items, resourceVersion, url.searchParams.get('includeObject') === 'Object'));
    } else {
      const apiVersion = type.group === '' ? type.version : `${type.group}/${type.version}`;
      this.send(res, 200, { kind: `${type.kind}List`, apiVersion, metadata: { resourceVersion }, items });
    }
    return true;
  }
}
