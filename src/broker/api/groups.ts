// Named cursors ("durable consumers"): a consumer stores where it got to under a
// group name and any process resumes from there. The broker only keeps and
// validates the cursor; members of a group share one position. The position is
// replicated (a command in the log of the partition the group name hashes to), so
// every broker of a cluster answers with the same cursor.
import type { FastifyInstance } from 'fastify';
import { FloError } from '../../common/errors.js';
import { parseCursor } from '../../common/ids.js';
import type { EventLog } from '../event-log.js';

export const GROUP_NAME_PATTERN = '^[A-Za-z0-9._-]{1,128}$';

const groupParams = { type: 'object', required: ['group'], properties: { group: { type: 'string', pattern: GROUP_NAME_PATTERN } } } as const;

/** The stored cursor of a group, or undefined when the group has never committed. */
export async function groupCursor(log: EventLog, group: string): Promise<string | undefined> {
  if (!new RegExp(GROUP_NAME_PATTERN).test(group)) throw new FloError('FLO_ERR_REQUEST_INVALID', 'a group name is 1-128 letters, digits, ".", "_" or "-"');
  return log.groupCursor(group);
}

export function groupRoutes(app: FastifyInstance, log: EventLog): void {
  app.get<{ Params: { group: string } }>('/v1/groups/:group', { schema: { params: groupParams } }, async (request) => {
    const cursor = await groupCursor(log, request.params.group);
    if (cursor === undefined) throw new FloError('FLO_ERR_GROUP_NOT_FOUND', `group "${request.params.group}" has not committed a cursor yet`);
    return { group: request.params.group, cursor };
  });

  app.put<{ Params: { group: string }; Body: { cursor: string } }>('/v1/groups/:group', {
    schema: {
      params: groupParams,
      body: { type: 'object', required: ['cursor'], additionalProperties: false, properties: { cursor: { type: 'string', maxLength: 65536 } } },
    },
  }, async (request) => {
    parseCursor(request.body.cursor, log.partitions);
    await log.commitGroup(request.params.group, request.body.cursor);
    return { group: request.params.group, cursor: request.body.cursor };
  });
}
