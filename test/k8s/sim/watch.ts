// Watch streams: newline-delimited JSON events on a chunked response whose headers are
// flushed at once (client-node's watch resolves only when headers arrive). A watch from a
// resourceVersion replays the retained history after it; a compacted version gets an
// ERROR event with a 410 Expired Status and the stream ends, as from a real server.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Api } from './api.js';
import type { Predicate } from './selectors.js';
import type { ChangeEvent } from './store.js';
import { toTable } from './tables.js';
import { typeKey, type KObject, type ResourceType } from './types.js';

export interface WatchRequest {
  type: ResourceType;
  namespace: string | undefined;
  predicate: Predicate;
  resourceVersion: string | undefined;
  timeoutMs: number;
  table: boolean;
}

function inScope(request: WatchRequest, object: KObject | undefined): boolean {
  if (object === undefined) return false;
  if (request.namespace !== undefined && request.type.namespaced && object.metadata.namespace !== request.namespace) return false;
  return request.predicate(object);
}

/** Maps a store change to what this watcher sees given its selector (ADDED/DELETED on entering/leaving). */
function translate(request: WatchRequest, event: ChangeEvent): { type: string; object: KObject } | undefined {
  const now = inScope(request, event.object);
  const before = inScope(request, event.previous);
  if (event.type === 'DELETED') return before || now ? { type: 'DELETED', object: event.object } : undefined;
  if (event.type === 'ADDED') return now ? { type: 'ADDED', object: event.object } : undefined;
  if (now && before) return { type: 'MODIFIED', object: event.object };
  if (now) return { type: 'ADDED', object: event.object };
  if (before) return { type: 'DELETED', object: event.object };
  return undefined;
}

export function serveWatch(api: Api, request: WatchRequest, req: IncomingMessage, res: ServerResponse, onClose: () => void): void {
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
  res.flushHeaders();
  const send = (type: string, object: KObject): void => {
    const shown = api.decorate(request.type, structuredClone(object));
    const body = request.table ? toTable(request.type, [shown], shown.metadata.resourceVersion ?? '', false) : shown;
    res.write(`${JSON.stringify({ type, object: body })}\n`);
  };
  const requested = request.resourceVersion;
  if (requested === undefined || requested === '' || requested === '0') {
    for (const object of api.list(request.type, request.namespace)) if (request.predicate(object)) send('ADDED', object);
  } else {
    const replay = api.store.since(typeKey(request.type), Number(requested));
    if (replay === undefined) {
      const status = {
        kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Expired', code: 410,
        message: `too old resource version: ${requested} (${api.store.currentRevision()})`,
      };
      res.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
      onClose();
      return;
    }
    for (const event of replay) {
      const seen = translate(request, event);
      if (seen) send(seen.type, seen.object);
    }
  }
  const unsubscribe = api.store.addWatcher({
    typeKey: typeKey(request.type),
    deliver: (event) => {
      const seen = translate(request, event);
      if (seen) send(seen.type, seen.object);
    },
  });
  const timer = setTimeout(() => res.end(), request.timeoutMs);
  const finish = (): void => {
    clearTimeout(timer);
    unsubscribe();
    onClose();
  };
  req.on('close', finish);
  res.on('close', finish);
}
