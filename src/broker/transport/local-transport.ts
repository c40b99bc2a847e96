// The transport of a broker without peers: every partition is a one-voter Raft
// group, which sends no messages, so there is nothing to carry. Same RaftNode,
// same code path as a cluster; only the transport is empty. A message that does
// arrive here is a programmer error (a peer in a one-voter group).
import { assert } from '../../common/assert.js';
import type { Message, NodeId } from '../raft/messages.js';
import type { MessageHandler, RaftTransport } from './tcp-transport.js';

export class LocalTransport implements RaftTransport {
  private readonly handlers = new Map<number, MessageHandler>();

  constructor(readonly nodeId: NodeId) {}

  send(groupId: number, messages: readonly Message[]): void {
    for (const message of messages) {
      assert(message.to === this.nodeId, `raft group ${groupId} of a broker without peers addressed member ${message.to}`);
      this.handlers.get(groupId)?.(message);
    }
  }

  register(groupId: number, handler: MessageHandler): void {
    this.handlers.set(groupId, handler);
  }

  unregister(groupId: number): void {
    this.handlers.delete(groupId);
  }
}
