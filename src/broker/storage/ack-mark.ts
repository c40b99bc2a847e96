// The acknowledgement mark (FLO-ACKED in the data dir): per partition, the next
// offset after the last durably acknowledged commit, rewritten in place after
// every commit and never fsynced. The offsets file records the same once a
// second with an fsync; this mark closes that second for process crashes: a
// write that reached the page cache survives kill -9, so a log tail cut or
// damaged after a crash is seen even if it held the last second's events. After
// a power loss the mark can only be older than the data it names (it is written
// after the commit's fsync), never ahead of it; a torn mark fails its checksum
// and is ignored, leaving the offsets file as the word.
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from './checksum.js';

export const ACK_MARK_FILE = 'FLO-ACKED';
const MAGIC = 0x464c4f41; // "FLOA"

function encode(nextOffsets: readonly number[]): Buffer {
  const out = Buffer.allocUnsafe(8 + nextOffsets.length * 8 + 4);
  out.writeUInt32BE(MAGIC, 0);
  out.writeUInt32BE(nextOffsets.length, 4);
  nextOffsets.forEach((offset, partition) => out.writeDoubleBE(offset, 8 + partition * 8));
  out.writeUInt32BE(crc32(out.subarray(0, out.length - 4)), out.length - 4);
  return out;
}

/** The mark's offsets, or undefined when it is missing, torn, damaged or for another partition count. */
export async function readAckMark(dataDir: string, partitions: number): Promise<number[] | undefined> {
  let bytes: Buffer;
  try {
    const file = await open(join(dataDir, ACK_MARK_FILE), 'r');
    try {
      bytes = Buffer.alloc(8 + partitions * 8 + 4);
      const { bytesRead } = await file.read(bytes, 0, bytes.length, 0);
      if (bytesRead !== bytes.length) return undefined;
    } finally {
      await file.close();
    }
  } catch {
    return undefined;
  }
  if (bytes.readUInt32BE(0) !== MAGIC || bytes.readUInt32BE(4) !== partitions) return undefined;
  if (crc32(bytes.subarray(0, bytes.length - 4)) !== bytes.readUInt32BE(bytes.length - 4)) return undefined;
  const offsets = Array.from({ length: partitions }, (_, partition) => bytes.readDoubleBE(8 + partition * 8));
  return offsets.every((offset) => Number.isSafeInteger(offset) && offset >= 0) ? offsets : undefined;
}

/** The running broker's mark: one positional write in flight at a time, later notes coalesced into the next. */
export class AckMark {
  private writing = false;
  private latest: Buffer | undefined;
  private idleWaiters: Array<() => void> = [];

  private constructor(private readonly file: FileHandle, private readonly onError: (error: unknown) => void) {}

  /** Opens (or creates) the mark and writes `nextOffsets` to it, synced: a mark left by an earlier run must not outlive a recovery. */
  static async start(dataDir: string, nextOffsets: readonly number[], onError: (error: unknown) => void): Promise<AckMark> {
    const file = await open(join(dataDir, ACK_MARK_FILE), 'w');
    try {
      await file.write(encode(nextOffsets), 0, undefined, 0);
      await file.sync();
    } catch (error) {
      await file.close();
      throw error;
    }
    return new AckMark(file, onError);
  }

  /** Records that every offset below `nextOffsets` is durably acknowledged. */
  note(nextOffsets: readonly number[]): void {
    this.latest = encode(nextOffsets);
    if (!this.writing) void this.drain();
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.latest) {
        const bytes = this.latest;
        this.latest = undefined;
        // Same length every time, at position 0: one write replaces the whole mark.
        await this.file.write(bytes, 0, bytes.length, 0);
      }
    } catch (error) {
      this.latest = undefined;
      this.onError(error);
    } finally {
      this.writing = false;
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  async close(): Promise<void> {
    if (this.writing) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.file.close();
  }
}
