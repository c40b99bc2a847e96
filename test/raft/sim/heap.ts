// A binary min-heap of scheduled events ordered by (time, sequence): ties run in
// the order they were scheduled, which keeps the simulation deterministic.

export interface Scheduled {
  readonly time: number;
  readonly seq: number;
  readonly run: () => void;
}

export class EventHeap {
  private readonly items: Scheduled[] = [];

  get size(): number {
    return this.items.length;
  }

  push(item: Scheduled): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(a[i] as Scheduled, a[parent] as Scheduled)) break;
      [a[i], a[parent]] = [a[parent] as Scheduled, a[i] as Scheduled];
      i = parent;
    }
  }

  pop(): Scheduled | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && less(a[l] as Scheduled, a[m] as Scheduled)) m = l;
        if (r < a.length && less(a[r] as Scheduled, a[m] as Scheduled)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m] as Scheduled, a[i] as Scheduled];
        i = m;
      }
    }
    return top;
  }
}

function less(x: Scheduled, y: Scheduled): boolean {
  return x.time < y.time || (x.time === y.time && x.seq < y.seq);
}
