// Decodes the Kubernetes protobuf encoding (`k8s\0` + runtime.Unknown) of the few core
// kinds that kubectl's imperative commands and helm's release storage send as protobuf:
// Secret, ConfigMap, Namespace, ServiceAccount, and DeleteOptions. Responses stay JSON, which those clients
// also accept. Field numbers are those of k8s.io/api's generated.proto.

import { ApiError, type JsonObject } from './types.js';

type FieldType = 'string' | 'bytes' | 'int' | 'bool' | 'time' | 'strings' | 'map' | 'bytesMap' | Schema | [Schema];
interface Schema { [field: number]: [string, FieldType] }

const TIME: Schema = { 1: ['seconds', 'int'], 2: ['nanos', 'int'] };
const OWNER: Schema = { 1: ['kind', 'string'], 3: ['name', 'string'], 4: ['uid', 'string'], 5: ['apiVersion', 'string'], 6: ['controller', 'bool'], 7: ['blockOwnerDeletion', 'bool'] };
const META: Schema = {
  1: ['name', 'string'], 2: ['generateName', 'string'], 3: ['namespace', 'string'], 5: ['uid', 'string'], 6: ['resourceVersion', 'string'],
  7: ['generation', 'int'], 8: ['creationTimestamp', 'time'], 9: ['deletionTimestamp', 'time'], 10: ['deletionGracePeriodSeconds', 'int'],
  11: ['labels', 'map'], 12: ['annotations', 'map'], 13: ['ownerReferences', [OWNER]], 14: ['finalizers', 'strings'],
};
const REF: Schema = { 1: ['name', 'string'] };
const KINDS: Record<string, Schema> = {
  Secret: { 1: ['metadata', META], 2: ['data', 'bytesMap'], 3: ['type', 'string'], 4: ['stringData', 'map'], 5: ['immutable', 'bool'] },
  ConfigMap: { 1: ['metadata', META], 2: ['data', 'map'], 3: ['binaryData', 'bytesMap'], 4: ['immutable', 'bool'] },
  Namespace: { 1: ['metadata', META], 2: ['spec', { 1: ['finalizers', 'strings'] }] },
  ServiceAccount: { 1: ['metadata', META], 2: ['secrets', [REF]], 3: ['imagePullSecrets', [REF]], 4: ['automountServiceAccountToken', 'bool'] },
  DeleteOptions: {
    1: ['gracePeriodSeconds', 'int'], 2: ['preconditions', { 1: ['uid', 'string'], 2: ['resourceVersion', 'string'] }],
    3: ['orphanDependents', 'bool'], 4: ['propagationPolicy', 'string'], 5: ['dryRun', 'strings'],
  },
};
const UNKNOWN: Schema = { 1: ['typeMeta', { 1: ['apiVersion', 'string'], 2: ['kind', 'string'] }], 2: ['raw', 'bytes'] };

class Reader {
  position = 0;
  constructor(readonly buffer: Buffer) {}

  get done(): boolean { return this.position >= this.buffer.length; }

  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = this.buffer[this.position++];
      if (byte === undefined) throw new Error('truncated varint');
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
    }
  }

  bytes(): Buffer {
    const length = Number(this.varint());
    const out = this.buffer.subarray(this.position, this.position + length);
    this.position += length;
    return out;
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 2) this.bytes();
    else if (wire === 1) this.position += 8;
    else if (wire === 5) this.position += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

function decode(buffer: Buffer, schema: Schema): JsonObject {
  const reader = new Reader(buffer);
  const out: JsonObject = {};
  while (!reader.done) {
    const key = Number(reader.varint());
    const field = schema[key >> 3];
    if (field === undefined) {
      reader.skip(key & 7);
      continue;
    }
    const [name, type] = field;
    if (type === 'int') out[name] = Number(BigInt.asIntN(64, reader.varint()));
    else if (type === 'bool') out[name] = reader.varint() !== 0n;
    else {
      const bytes = reader.bytes();
      if (type === 'string') out[name] = bytes.toString('utf8');
      else if (type === 'bytes') out[name] = bytes;
      else if (type === 'strings') out[name] = [...((out[name] as string[] | undefined) ?? []), bytes.toString('utf8')];
      else if (type === 'time') out[name] = new Date(Number((decode(bytes, TIME)['seconds'] as number | undefined) ?? 0) * 1000).toISOString().replace('.000Z', 'Z');
      else if (type === 'map' || type === 'bytesMap') {
        const entry = decode(bytes, { 1: ['key', 'string'], 2: ['value', type === 'map' ? 'string' : 'bytes'] });
        const value = type === 'map' ? String(entry['value'] ?? '') : ((entry['value'] as Buffer | undefined) ?? Buffer.alloc(0)).toString('base64');
        out[name] = { ...((out[name] as JsonObject | undefined) ?? {}), [String(entry['key'] ?? '')]: value };
      } else if (Array.isArray(type)) out[name] = [...((out[name] as JsonObject[] | undefined) ?? []), decode(bytes, type[0])];
      else out[name] = decode(bytes, type);
    }
  }
  return out;
}

/** Turns a protobuf request body into the JSON object it encodes. */
export function decodeProtobufObject(body: Buffer): JsonObject {
  if (body.length < 4 || body.subarray(0, 4).toString('latin1') !== 'k8s\u0000') throw new ApiError(400, 'BadRequest', 'protobuf body without the k8s envelope');
  const unknown = decode(body.subarray(4), UNKNOWN);
  const typeMeta = (unknown['typeMeta'] ?? {}) as JsonObject;
  const kind = String(typeMeta['kind'] ?? '');
  const schema = KINDS[kind];
  if (schema === undefined) {
    throw new ApiError(415, 'UnsupportedMediaType', `the simulator decodes protobuf only for ${Object.keys(KINDS).join(', ')} (got ${kind}); send JSON`);
  }
  const object = decode((unknown['raw'] as Buffer | undefined) ?? Buffer.alloc(0), schema);
  // Generated protobuf writes unset strings and numbers as zero values; JSON leaves them out.
  const meta = (object['metadata'] ?? {}) as JsonObject;
  for (const [key, value] of Object.entries(meta)) {
    if (value === '' || value === 0 || value === '1970-01-01T00:00:00Z') delete meta[key];
  }
  return { apiVersion: typeMeta['apiVersion'], kind, ...object, metadata: meta };
}
