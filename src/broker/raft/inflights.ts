// The pipelining window of one follower: the last index of every append message
// sent but not yet acknowledged, with their bytes. A fixed-capacity ring, so the
// window is bounded in both messages and bytes.

export class Inflights {
  private readonly indexes: number[];
  private readonly sizes: number[];
  private start = 0;
  private count = 0;
  private bytes = 0;

  constructor(
    private readonly maxCount: number,
    private readonly maxBytes: number,
  ) {
    this.indexes = new Array<number>(maxCount).fill(0);
    this.sizes = new Array<number>(maxCount).fill(0);
  }

  get size(): number {
    return this.count;
  }

  get inflightBytes(): number {
    return this.bytes;
  }

  full(): boolean {
    return this.count >= this.maxCount || (this.maxBytes > 0 && this.bytes >= this.maxBytes);
  }

  add(lastIndex: number, sizeBytes: number): void {
    if (this.count >= this.maxCount) throw new RangeError('raft: inflights overflow');
    const slot = (this.start + this.count) % this.maxCount;
    this.indexes[slot] = lastIndex;
    this.sizes[slot] = sizeBytes;
    this.count++;
    this.bytes += sizeBytes;
  }

  /** Acknowledges every message whose last index is <= index. */
  freeLE(index: number): void {
    while (this.count > 0 && (this.indexes[this.start] ?? 0) <= index) this.dropFirst();
  }

  /** Frees one slot so a paused follower gets one more message (a heartbeat response proved it alive). */
  freeFirstOne(): void {
    if (this.count > 0) this.dropFirst();
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }

  private dropFirst(): void {
    this.bytes -= this.sizes[this.start] ?? 0;
    this.start = (this.start + 1) % this.maxCount;
    this.count--;
  }
}
