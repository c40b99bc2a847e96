// A join that retires a member (`replaces`: a broker rebuilt after a lost or damaged store) must
// never retire one that is running: a second broker started by mistake with a live member's flags
// on an empty data dir, or pointed by --peers-service at another cluster with the same id and
// secret, looks exactly like that member after a lost volume. The controller's leader hears every
// member every heartbeat (~100 ms), so silence is the test, but only silence it could have heard:
// it must have led long enough itself, and not be stalled (a leader whose event loop stood still
// has heard nobody lately). Silence is no proof, though (a paused process, a restart the new leader
// has not heard yet): the member's own peer address must also answer as the joiner itself (a pod
// restarted on a new volume keeps its address) or refuse connections.
import type { NodeId } from '../raft/messages.js';

/** How long a member must have been silent, and this leader leading, before a join may retire it. */
export const REPLACED_SILENCE_MS = 3_000;
/** Some other member heard this recently, or this leader may be the one that stood still. */
const OTHERS_HEARD_MS = 1_000;
/** Starts every refusal for a running member: the broker that answers the joiner makes it final. */
export const RUNNING_MEMBER_REFUSAL = 'refusing to retire a running member';

export interface RetireCheck {
  readonly replaced: NodeId;
  readonly self: NodeId;
  /** How long this broker has led the controller (as far as it observed). */
  readonly ledForMs: number;
  /** The other members still in the table (not the replaced one, not this broker). */
  readonly others: readonly NodeId[];
  readonly msSinceHeard: (id: NodeId) => number | undefined;
}

/** Who answers at the replaced member's peer address, dialed by the controller's leader. */
export type AddressAnswer = 'the-joiner' | 'nobody-listens' | { readonly member: NodeId } | 'no-answer';

/** Why the join must wait although the member is silent, judged from who answers at its address. */
export function addressWait(replaced: NodeId, peer: string, answer: AddressAnswer): string | undefined {
  if (answer === 'the-joiner' || answer === 'nobody-listens') return undefined;
  if (answer === 'no-answer') return `node ${replaced} may be running: its address ${peer} accepts connections but does not answer (a paused process?)`;
  return `${RUNNING_MEMBER_REFUSAL}: node ${answer.member} answers at ${peer}, the address of node ${replaced}. If it is alive, this broker was started with its --node-id on another data dir (or --peers-service names another cluster): stop it`;
}

/** Why the join must wait, or undefined when the replaced member is known to be silent. */
export function retireWait(check: RetireCheck): string | undefined {
  const { replaced } = check;
  const stop = `If node ${replaced} is alive, this broker was started with its --node-id on another data dir (or --peers-service names another cluster): stop it`;
  if (replaced === check.self) return `${RUNNING_MEMBER_REFUSAL}: node ${replaced} leads the controller. ${stop}`;
  if (check.ledForMs < REPLACED_SILENCE_MS) return `node ${replaced} may be running: this controller leader has led for ${Math.round(check.ledForMs)} ms, under ${REPLACED_SILENCE_MS / 1000} s`;
  const heardOthers = check.others.map(check.msSinceHeard).filter((ms): ms is number => ms !== undefined && ms < OTHERS_HEARD_MS);
  if (check.others.length > 0 && heardOthers.length === 0) return `node ${replaced} may be running: this controller leader has heard no member in the last ${OTHERS_HEARD_MS} ms`;
  const silentMs = check.msSinceHeard(replaced);
  if (silentMs === undefined || silentMs >= REPLACED_SILENCE_MS) return undefined;
  return `${RUNNING_MEMBER_REFUSAL}: node ${replaced} was heard from ${Math.round(silentMs)} ms ago. ${stop}`;
}
