// Recently committed groups kept in memory, per partition, within a byte budget.
// Live subscribers read the head of the log from here, so tailing costs no
// storage reads. Entries leave in commit order (oldest first); a partition's
// cached groups are always a contiguous suffix of what was committed to it.
import type { StoredGroup } from '../storage/event-store.js';

export class ReadCache {
  private readonly byPartition: StoredGroup[][];
  private readonly heads: number[];
  private order: StoredGroup[] = [];
  private orderHead = 0;
  private bytes = 0;

  constructor(partitions: number, readonly maxBytes: number) {
    this.byPartition = Array.from({ length: partitions }, () => []);
    this.heads = new Array<number>(partitions).fill(0);
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  add(group: StoredGroup): void {
    if (this.maxBytes <= 0) return;
    this.byPartition[group.partition]!.push(group);
    this.order.push(group);
    this.bytes += group.value.length;
    while (this.bytes > this.maxBytes && this.orderHead < this.order.length) this.evictOldest();
    if (this.orderHead > 1024 && this.orderHead * 2 > this.order.length) {
      this.order.splice(0, this.orderHead);
      this.orderHead = 0;
    }
  }

  /** Cached groups of a partition from the one holding `offset`, or undefined when the cache does not reach back that far. */
  from(partition: number, offset: number): StoredGroup[] | undefined {
    const groups = this.byPartition[partition]!;
    const head = this.heads[partition]!;
    if (head >= groups.length || groups[head]!.start > offset) return undefined;
    let low = head;
    let high = groups.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (groups[middle]!.start <= offset) low = middle;
      else high = middle - 1;
    }
    const first = groups[low]!.start + groups[low]!.count > offset ? low : low + 1;
    return groups.slice(first);
  }

  /** Forgets a partition's groups: retention changed them in storage. */
  dropPartition(partition: number): void {
    const groups = this.byPartition[partition]!;
    for (let i = this.heads[partition]!; i < groups.length; i++) this.bytes -= groups[i]!.value.length;
    this.byPartition[partition] = [];
    this.heads[partition] = 0;
    // A loop, not splice(...spread): the queue can hold far more groups than a call's argument limit.
    const kept: StoredGroup[] = [];
    for (let i = this.orderHead; i < this.order.length; i++) if (this.order[i]!.partition !== partition) kept.push(this.order[i]!);
    this.order = kept;
    this.orderHead = 0;
  }

  private evictOldest(): void {
    const oldest = this.order[this.orderHead++]!;
    this.bytes -= oldest.value.length;
    const partition = oldest.partition;
    this.heads[partition]!++;
    const groups = this.byPartition[partition]!;
    if (this.heads[partition]! > 256 && this.heads[partition]! * 2 > groups.length) {
      groups.splice(0, this.heads[partition]!);
      this.heads[partition] = 0;
    }
  }
}
