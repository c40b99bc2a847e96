// The membership endpoints: cluster health, and the admin operations on members
// (drain, remove, restart checks) that the operator and `flo cluster` call.
import type { FastifyInstance } from 'fastify';
import { FloError } from '../../common/errors.js';
import type { ClusterAdmin } from '../cluster/cluster-admin.js';
import type { AdminContext } from './admin.js';

export function membershipRoutes(app: FastifyInstance, context: AdminContext): void {
  const { log } = context;
  app.get('/v1/cluster/health', async () => {
    const failure = log.storageFailure;
    const admin = context.cluster?.admin();
    if (context.cluster === undefined) {
      const problems = failure ? [`storage failed: ${failure.message}`] : [];
      return { healthy: problems.length === 0, controllerLeader: null, partitions: { total: log.partitions, leaderless: 0, underReplicated: 0 }, problems };
    }
    if (admin === undefined) throw new FloError('FLO_ERR_UNAVAILABLE', 'the controller is still starting');
    const health = await admin.health();
    if (failure) health.problems.unshift(`storage failed on this broker: ${failure.message}`);
    return { ...health, healthy: health.healthy && !failure };
  });

  const memberParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[1-9][0-9]{0,9}$' } } } as const;
  const adminOf = (): ClusterAdmin => {
    const admin = context.cluster?.admin();
    if (context.cluster === undefined) throw new FloError('FLO_ERR_MEMBERSHIP_REFUSED', 'this broker runs without peers (a one-member cluster started without --peers): it has no members to drain or remove');
    if (admin === undefined) throw new FloError('FLO_ERR_UNAVAILABLE', 'the controller is still starting');
    return admin;
  };
  app.post<{ Params: { id: string } }>('/v1/admin/members/:id/drain', { schema: { params: memberParams } }, async (request, reply) => {
    const member = await adminOf().drain(Number(request.params.id));
    request.log.info({ member: member.member }, 'drain requested');
    return reply.code(202).send({ member });
  });
  app.delete<{ Params: { id: string }; Querystring: { force?: string } }>('/v1/admin/members/:id', {
    schema: { params: memberParams, querystring: { type: 'object', additionalProperties: false, properties: { force: { type: 'string', enum: ['true', 'false'] } } } },
  }, async (request) => {
    const member = await adminOf().remove(Number(request.params.id), request.query.force === 'true');
    request.log.info({ member: member.member, force: request.query.force === 'true' }, 'member removed');
    return { member };
  });
  app.get<{ Params: { id: string } }>('/v1/admin/members/:id/restart-check', { schema: { params: memberParams } }, async (request) => adminOf().restartCheck(Number(request.params.id)));

}
