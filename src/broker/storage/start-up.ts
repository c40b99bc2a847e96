// What a store goes through before it serves: verification (verify.ts) and the
// offsets file (offset-marks.ts). Any problem refuses the start, with every
// problem named, unless recovery was asked for: then the repairs are applied in
// one synced batch (only what verifies is kept) and what was lost is reported.
// Either way each partition then continues where no id handed out before lies.
import type { ClassicLevel } from 'classic-level';
import { FloError, isFloError } from '../../common/errors.js';
import * as keys from './keys.js';
import type { NamespaceDictionary } from './namespace-dictionary.js';
import { readAckMark } from './ack-mark.js';
import { checkOffsetMarks, readOffsetMarks, type OffsetMarks } from './offset-marks.js';
import { verifyStore, type NamespaceSize, type PartitionState } from './verify.js';

type Db = ClassicLevel<Buffer, Buffer>;

export const RECOVERY_HELP = 'see docs/operations.md, "The store is refused"';
const MAX_PROBLEMS_IN_MESSAGE = 20;

export interface StartUpOptions {
  readonly dataDir: string;
  /** Keep what verifies and drop the rest, instead of refusing to start. */
  readonly recover?: boolean | undefined;
  /** Told of offsets skipped after an unclean stop (reserved, possibly handed out, not in the store). */
  readonly onSkippedOffsets?: ((skipped: Array<{ partition: number; from: number; to: number }>) => void) | undefined;
  /** Told what recovery found and dropped. */
  readonly onRecovered?: ((problems: readonly string[]) => void) | undefined;
  /**
   * Skip offsets reserved before an unclean stop (default true). A cluster member does not: its Raft log
   * decides offsets, replicated, so what it stores is where it resumes — and recording the skip as its
   * end would make the next start see acknowledged offsets missing.
   */
  readonly skipReserved?: boolean | undefined;
}

export interface CheckedStore {
  readonly states: PartitionState[];
  /** Per namespace id, its stored events and bytes (verified against the namespace index). */
  readonly namespaceSizes: ReadonlyMap<number, NamespaceSize>;
}

export async function checkedStates(db: Db, dictionary: NamespaceDictionary, partitions: number, options: StartUpOptions): Promise<CheckedStore> {
  const recover = options.recover ?? false;
  const findings = await verifyStore(db, dictionary, partitions, recover);
  const states = findings.states;
  let marks: OffsetMarks | undefined;
  let damage: string | undefined;
  try {
    marks = await readOffsetMarks(options.dataDir);
  } catch (error) {
    if (!isFloError(error) || error.code !== 'FLO_ERR_STORAGE_CORRUPT') throw error;
    damage = error.message;
  }
  if (marks && !marks.clean) {
    // The per-commit mark may know of acknowledgements the once-a-second offsets file had not recorded yet.
    const acknowledged = await readAckMark(options.dataDir, partitions);
    if (acknowledged) marks = { ...marks, acknowledged: marks.acknowledged.map((next, partition) => Math.max(next, acknowledged[partition] ?? 0)) };
  }
  const marksCheck = checkOffsetMarks(marks, states.map((state) => state.nextOffset), damage);
  const problems = [...findings.problems, ...marksCheck.problems];
  if (problems.length > 0 && !recover) {
    const shown = problems.slice(0, MAX_PROBLEMS_IN_MESSAGE).join('; ');
    const more = problems.length > MAX_PROBLEMS_IN_MESSAGE ? ` and ${problems.length - MAX_PROBLEMS_IN_MESSAGE} more` : '';
    throw new FloError('FLO_ERR_STORAGE_CORRUPT',
      `the store in ${options.dataDir} failed verification; refusing to start: ${shown}${more}. Restore the data dir from a backup, or start once with --recover-store to keep only what verifies (${RECOVERY_HELP})`);
  }
  if (problems.length > 0) {
    const batch = db.batch();
    for (const { nsId, namespace } of findings.placeholders) {
      dictionary.load(nsId, namespace);
      batch.put(keys.dictKey(nsId), Buffer.from(namespace, 'utf8'));
    }
    for (const repair of findings.repairs) {
      if (repair.type === 'put') batch.put(repair.key, repair.value);
      else batch.del(repair.key);
    }
    await batch.write({ sync: true });
    options.onRecovered?.(problems);
  }
  if (options.skipReserved ?? true) await skipReserved(states, marksCheck.resumeAt, options);
  return { states, namespaceSizes: findings.namespaceSizes };
}

/**
 * Moves partitions to where they resume, in memory only: offsets are assigned by each partition's
 * Raft group, so the skip itself is a replicated command its partition proposes before it takes
 * appends (partition.ts). The offsets file is started with the moved ends, so a crash before that
 * command is applied skips at least as far again.
 */
async function skipReserved(states: PartitionState[], resumeAt: readonly number[], options: StartUpOptions): Promise<void> {
  const skipped: Array<{ partition: number; from: number; to: number }> = [];
  states.forEach((state, partition) => {
    const to = resumeAt[partition]!;
    if (to <= state.nextOffset) return;
    skipped.push({ partition, from: state.nextOffset, to });
    state.storedEnd = state.nextOffset;
    state.nextOffset = to;
  });
  if (skipped.length > 0) options.onSkippedOffsets?.(skipped);
  return Promise.resolve();
}
