// What a leader does as time passes: heartbeats every heartbeatTicks, and every
// election timeout the check-quorum round (step down when a quorum has gone
// silent), the end of an unfinished leader transfer, and retries of lost snapshots.

import type { RaftCore } from './core.js';
import { NO_NODE } from './messages.js';
import { ProgressState } from './progress.js';
import { hasQuorum } from './quorum.js';

export function leaderTick(r: RaftCore): void {
  r.heartbeatElapsed++;
  r.electionElapsed++;
  for (const pr of r.progress.values()) {
    if (pr.state !== ProgressState.Snapshot) continue;
    // The snapshot or its acknowledgement was lost: fall back to probing, which resends it if still needed.
    if (++pr.snapshotTicks >= 2 * r.cfg.electionTicks) pr.becomeProbe();
  }
  if (r.electionElapsed >= r.cfg.electionTicks) {
    r.electionElapsed = 0;
    if (r.cfg.checkQuorum) {
      const active = hasQuorum(r.conf.voters, (id) => id === r.id || r.progress.get(id)?.recentActive === true);
      if (!active) {
        r.becomeFollower(r.term, NO_NODE);
        return;
      }
      for (const [id, pr] of r.progress) if (id !== r.id) pr.recentActive = false;
    }
    r.leadTransferee = NO_NODE;
  }
  if (r.heartbeatElapsed >= r.cfg.heartbeatTicks) {
    r.heartbeatElapsed = 0;
    r.heartbeat();
  }
}
