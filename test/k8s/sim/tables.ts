// Server-side printing: kubectl asks for a meta.k8s.io Table and prints its columns.
// Custom resources use their additionalPrinterColumns; a few built-ins get the columns
// a real server prints, the rest print Name and Age.

import { isObject, type JsonObject, type KObject, type PrinterColumn, type ResourceType } from './types.js';

function evalPath(object: unknown, jsonPath: string): unknown {
  let current = object;
  const filter = /^(.*)\[\?\(@\.(\w+)=="([^"]*)"\)\]\.(.*)$/.exec(jsonPath);
  if (filter) {
    const list = evalPath(object, filter[1]!);
    const match = Array.isArray(list) ? list.find((item) => isObject(item) && item[filter[2]!] === filter[3]) : undefined;
    return evalPath(match, `.${filter[4]!}`);
  }
  for (const part of jsonPath.replace(/^\./, '').split('.')) {
    if (part === '') continue;
    current = isObject(current) ? current[part] : undefined;
  }
  return current;
}

function podColumns(pod: KObject): unknown[] {
  const status = isObject(pod.status) ? pod.status : {};
  const containers = Array.isArray(status['containerStatuses']) ? status['containerStatuses'] as JsonObject[] : [];
  const specContainers = isObject(pod.spec) && Array.isArray(pod.spec['containers']) ? pod.spec['containers'].length : 0;
  const ready = containers.filter((container) => container['ready'] === true).length;
  const restarts = containers.reduce((sum, container) => sum + Number(container['restartCount'] ?? 0), 0);
  const phase = pod.metadata.deletionTimestamp !== undefined ? 'Terminating' : String(status['phase'] ?? 'Pending');
  return [`${ready}/${specContainers}`, phase, restarts];
}

const BUILTIN_COLUMNS: Record<string, { columns: PrinterColumn[]; cells(object: KObject): unknown[] }> = {
  '/Pod': {
    columns: [{ name: 'Ready', type: 'string', jsonPath: '' }, { name: 'Status', type: 'string', jsonPath: '' }, { name: 'Restarts', type: 'integer', jsonPath: '' }],
    cells: podColumns,
  },
  'apps/StatefulSet': {
    columns: [{ name: 'Ready', type: 'string', jsonPath: '' }],
    cells: (sts) => [`${String(evalPath(sts, '.status.readyReplicas') ?? 0)}/${String(evalPath(sts, '.spec.replicas') ?? 0)}`],
  },
  '/Service': {
    columns: [{ name: 'Type', type: 'string', jsonPath: '' }, { name: 'Cluster-IP', type: 'string', jsonPath: '' }, { name: 'Ports', type: 'string', jsonPath: '' }],
    cells: (svc) => {
      const ports = evalPath(svc, '.spec.ports');
      const text = Array.isArray(ports) ? ports.map((port: JsonObject) => `${String(port['port'])}/${String(port['protocol'] ?? 'TCP')}`).join(',') : '<none>';
      return [evalPath(svc, '.spec.type'), evalPath(svc, '.spec.clusterIP'), text];
    },
  },
  '/Event': {
    columns: [{ name: 'Type', type: 'string', jsonPath: '' }, { name: 'Reason', type: 'string', jsonPath: '' }, { name: 'Object', type: 'string', jsonPath: '' }, { name: 'Message', type: 'string', jsonPath: '' }],
    cells: (event) => [evalPath(event, '.type'), evalPath(event, '.reason'),
      `${String(evalPath(event, '.involvedObject.kind') ?? '').toLowerCase()}/${String(evalPath(event, '.involvedObject.name') ?? '')}`, evalPath(event, '.message')],
  },
  '/PersistentVolumeClaim': {
    columns: [{ name: 'Status', type: 'string', jsonPath: '' }, { name: 'Capacity', type: 'string', jsonPath: '' }],
    cells: (pvc) => [evalPath(pvc, '.status.phase'), evalPath(pvc, '.spec.resources.requests.storage')],
  },
};

function age(timestamp: unknown): string {
  const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(String(timestamp))) / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  return `${Math.floor(seconds / 3600)}h`;
}

export function toTable(type: ResourceType, objects: KObject[], resourceVersion: string, includeObject: boolean): JsonObject {
  const builtin = BUILTIN_COLUMNS[`${type.group}/${type.kind}`];
  const custom = (type.printerColumns ?? []).filter((column) => column.jsonPath !== '.metadata.creationTimestamp');
  const columns: PrinterColumn[] = builtin?.columns ?? custom;
  const definitions = [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    ...columns.map((column) => ({ name: column.name, type: column.type, format: column.format ?? '', description: column.description ?? '', priority: column.priority ?? 0 })),
    { name: 'Age', type: 'string', format: '', description: 'Time since creation', priority: 0 },
  ];
  const rows = objects.map((object) => {
    const cells = builtin !== undefined ? builtin.cells(object) : custom.map((column) => evalPath(object, column.jsonPath) ?? null);
    const partial = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: object.metadata };
    return { cells: [object.metadata.name, ...cells, age(object.metadata.creationTimestamp)], object: includeObject ? object : partial };
  });
  return { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion }, columnDefinitions: definitions, rows };
}

export function wantsTable(accept: string | undefined): boolean {
  return accept !== undefined && accept.includes('as=Table');
}
