// The offsets file (FLO-OFFSETS in the data dir, beside LevelDB's files, which
// LevelDB ignores). Per partition: the highest offset ever reserved for
// assignment, and the next offset last known to be durably acknowledged; and
// whether the broker last stopped cleanly. It lives outside LevelDB on purpose:
// a lost or damaged LevelDB log tail cannot take it along, so an id handed out
// before the loss is never handed out again, and a loss of acknowledged events
// is seen. Marks only move forward; a reservation is written and fsynced before
// offsets beyond the old one are used. Replaced atomically: temp file, fsync,
// rename, fsync the directory.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { replaceFileDurably } from '../../common/durable-file.js';
import { FloError } from '../../common/errors.js';
import { crc32 } from './checksum.js';

export const OFFSETS_FILE = 'FLO-OFFSETS';
const FORMAT = 1;
/** Offsets reserved per raise: after a crash a partition's ids skip at most this many. */
export const OFFSET_RESERVATION = 1 << 20;

export interface OffsetMarks {
  /** True when the broker that wrote it had committed everything and closed the store. */
  readonly clean: boolean;
  /** Per partition: no offset at or above this was ever assigned. */
  readonly reserved: readonly number[];
  /** Per partition: every offset below this was acknowledged as durable. */
  readonly acknowledged: readonly number[];
}

function isOffsetList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((offset) => Number.isSafeInteger(offset) && (offset as number) >= 0);
}

export async function readOffsetMarks(dataDir: string): Promise<OffsetMarks | undefined> {
  let text: string;
  try {
    text = await readFile(join(dataDir, OFFSETS_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new FloError('FLO_ERR_STORAGE', `cannot read ${OFFSETS_FILE}: ${(error as Error).message}`, { cause: error });
  }
  const [body = '', checksum] = text.split('\n');
  let parsed: Record<string, unknown> | undefined;
  try {
    parsed = Number(checksum) === crc32(Buffer.from(body)) ? (JSON.parse(body) as Record<string, unknown>) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!parsed || parsed.format !== FORMAT || typeof parsed.clean !== 'boolean' || !isOffsetList(parsed.reserved) || !isOffsetList(parsed.acknowledged)) {
    throw new FloError('FLO_ERR_STORAGE_CORRUPT', `${join(dataDir, OFFSETS_FILE)} is damaged (bad checksum or content); see docs/operations.md, "The store is refused"`);
  }
  return { clean: parsed.clean, reserved: parsed.reserved, acknowledged: parsed.acknowledged };
}

export async function writeOffsetMarks(dataDir: string, marks: OffsetMarks): Promise<void> {
  const body = JSON.stringify({ format: FORMAT, clean: marks.clean, reserved: marks.reserved, acknowledged: marks.acknowledged });
  await replaceFileDurably(dataDir, OFFSETS_FILE, `${body}\n${crc32(Buffer.from(body))}\n`);
}

export interface MarksCheck {
  /** What the marks say is wrong with the store (empty when nothing is). */
  readonly problems: string[];
  /** Per partition, where offsets continue so that none ever handed out is handed out again. */
  readonly resumeAt: number[];
}

/**
 * Checks a store whose partitions end at `nextOffsets` against the marks (undefined: missing, or
 * unreadable as `damage` says). After a clean stop a partition resumes at its end; otherwise past its
 * reservation; without usable marks, OFFSET_RESERVATION past its end (the best left to do).
 */
export function checkOffsetMarks(marks: OffsetMarks | undefined, nextOffsets: readonly number[], damage?: string): MarksCheck {
  const ahead = nextOffsets.map((next) => next + OFFSET_RESERVATION);
  if (!marks) return { problems: [damage ?? `the offsets file ${OFFSETS_FILE} is missing, so offsets that were handed out cannot be told from new ones`], resumeAt: ahead };
  if (marks.reserved.length !== nextOffsets.length || marks.acknowledged.length !== nextOffsets.length) {
    return { problems: [`${OFFSETS_FILE} lists ${marks.reserved.length} partitions, the store has ${nextOffsets.length}`], resumeAt: ahead };
  }
  const problems: string[] = [];
  const resumeAt = nextOffsets.map((next, partition) => {
    const reserved = marks.reserved[partition]!;
    const acknowledged = Math.max(marks.acknowledged[partition]!, marks.clean ? reserved : 0);
    if (next > reserved) {
      problems.push(`partition ${partition}: the store holds offsets up to ${next - 1}, beyond ${OFFSETS_FILE} (${reserved}): the file is older than the store`);
      return ahead[partition]!;
    }
    if (next < acknowledged) problems.push(`partition ${partition}: offsets ${next}-${acknowledged - 1} were acknowledged but are missing from the store (its log was truncated or damaged; those events are lost)`);
    return marks.clean ? Math.max(next, reserved) : Math.max(reserved, acknowledged);
  });
  return { problems, resumeAt };
}

/** The running broker's marks: raised before offsets are used, recorded as acknowledgements become durable. */
export class OffsetLedger {
  private writing: Promise<void> | undefined;

  private constructor(
    private readonly dataDir: string,
    private readonly reserved: number[],
    private readonly acknowledged: number[],
  ) {}

  /** Starts a run: from now until a clean close the file says "not clean". */
  static async start(dataDir: string, nextOffsets: readonly number[]): Promise<OffsetLedger> {
    const ledger = new OffsetLedger(dataDir, [...nextOffsets], [...nextOffsets]);
    await writeOffsetMarks(dataDir, { clean: false, reserved: ledger.reserved, acknowledged: ledger.acknowledged });
    return ledger;
  }

  /** Resolves once no offset below `nextOffsets` lies beyond the reservation (one file write per OFFSET_RESERVATION offsets). */
  reserve(nextOffsets: ReadonlyMap<number, number>): Promise<void> {
    return this.update(() => {
      let raised: number[] | undefined;
      for (const [partition, next] of nextOffsets) {
        if (next > this.reserved[partition]!) (raised ??= [...this.reserved])[partition] = next + OFFSET_RESERVATION;
      }
      return raised && { reserved: raised, acknowledged: this.acknowledged };
    });
  }

  /** Records that everything below `nextOffsets` is durably acknowledged, when that moved. */
  recordAcknowledged(nextOffsets: readonly number[]): Promise<void> {
    return this.update(() => {
      if (nextOffsets.every((next, partition) => next <= this.acknowledged[partition]!)) return undefined;
      return { reserved: this.reserved, acknowledged: nextOffsets.map((next, partition) => Math.max(next, this.acknowledged[partition]!)) };
    });
  }

  /** Records a clean stop at `finalOffsets`: the next start resumes exactly there. */
  async closeClean(finalOffsets: readonly number[]): Promise<void> {
    while (this.writing) await this.writing.catch(() => undefined);
    await writeOffsetMarks(this.dataDir, { clean: true, reserved: finalOffsets, acknowledged: finalOffsets });
  }

  async idle(): Promise<void> {
    while (this.writing) await this.writing.catch(() => undefined);
  }

  /** One write at a time; `next` says what to write given the marks once earlier writes are done (undefined: nothing). */
  private async update(next: () => { reserved: number[]; acknowledged: number[] } | undefined): Promise<void> {
    for (;;) {
      while (this.writing) await this.writing;
      const marks = next();
      if (!marks) return;
      this.writing = writeOffsetMarks(this.dataDir, { clean: false, ...marks }).then(() => {
        marks.reserved.forEach((value, partition) => (this.reserved[partition] = Math.max(this.reserved[partition]!, value)));
        marks.acknowledged.forEach((value, partition) => (this.acknowledged[partition] = Math.max(this.acknowledged[partition]!, value)));
      }).finally(() => (this.writing = undefined));
    }
  }
}
