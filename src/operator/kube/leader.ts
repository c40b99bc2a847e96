// Lease-based leader election (coordination.k8s.io/v1), the protocol client-go uses:
// the holder renews `renewTime` every retry period; a candidate takes the Lease only
// after it has gone unrenewed for `leaseDuration`; every write carries the read
// resourceVersion, so two candidates racing for an expired Lease cannot both win (409).
// A leader that cannot renew within `renewDeadline` stops leading before anyone else may start.

import type { CoordinationV1Api, V1Lease, V1MicroTime } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { isConflict, isNotFound } from './clients.js';

/** Defaults as in client-go's leader election. */
export const DEFAULT_LEASE_DURATION_MS = 15_000;
export const DEFAULT_RENEW_DEADLINE_MS = 10_000;
export const DEFAULT_RETRY_PERIOD_MS = 2_000;

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export interface LeaderCallbacks {
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

/** MicroTime as the API server parses it (RFC 3339 with six fractional digits); client-node passes strings through. */
function micro(date: Date): V1MicroTime {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') as unknown as V1MicroTime;
}

export class LeaderElector {
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private lastRenewMs = 0;
  private stopped = false;
  private readonly leaseMs: number;
  private readonly deadlineMs: number;
  private readonly retryMs: number;

  constructor(private readonly api: CoordinationV1Api, private readonly options: LeaderElectionOptions,
    private readonly callbacks: LeaderCallbacks, private readonly log: Logger) {
    this.leaseMs = options.leaseDurationMs ?? DEFAULT_LEASE_DURATION_MS;
    this.deadlineMs = options.renewDeadlineMs ?? DEFAULT_RENEW_DEADLINE_MS;
    this.retryMs = options.retryPeriodMs ?? DEFAULT_RETRY_PERIOD_MS;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.stopped = false;
    void this.tick();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => { void this.tick(); }, this.retryMs);
  }

  private async tick(): Promise<void> {
    let acquired = false;
    try {
      acquired = await this.tryAcquireOrRenew();
    } catch (error) {
      this.log.warn({ err: error }, 'leader election round failed');
    }
    if (this.stopped) return;
    if (acquired) {
      this.lastRenewMs = Date.now();
      if (!this.leading) {
        this.leading = true;
        this.log.info({ lease: this.options.name, identity: this.options.identity }, 'became leader');
        this.callbacks.onStartedLeading();
      }
    } else if (this.leading && Date.now() - this.lastRenewMs > this.deadlineMs) {
      this.leading = false;
      this.log.warn({ lease: this.options.name }, 'lost leadership: could not renew the lease in time');
      this.callbacks.onStoppedLeading();
    }
    this.schedule();
  }

  private desired(previous: V1Lease | undefined, now: Date): V1Lease {
    const spec = previous?.spec ?? {};
    const takingOver = spec.holderIdentity !== this.options.identity;
    return {
      ...(previous ?? {}),
      metadata: { ...(previous?.metadata ?? {}), name: this.options.name, namespace: this.options.namespace },
      spec: {
        holderIdentity: this.options.identity,
        leaseDurationSeconds: Math.ceil(this.leaseMs / 1000),
        renewTime: micro(now),
        acquireTime: takingOver ? micro(now) : spec.acquireTime ?? micro(now),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (takingOver && previous !== undefined ? 1 : 0),
      },
    };
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name } = this.options;
    const now = new Date();
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if (!isNotFound(error)) throw error;
      try {
        await this.api.createNamespacedLease({ namespace, body: this.desired(undefined, now) });
        return true;
      } catch (createError) {
        if (isConflict(createError)) return false;
        throw createError;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const renewedMs = spec.renewTime === undefined ? 0 : new Date(spec.renewTime as unknown as string).getTime();
    const durationMs = (spec.leaseDurationSeconds ?? 0) * 1000;
    if (holder !== '' && holder !== this.options.identity && renewedMs + durationMs > now.getTime()) return false;
    try {
      await this.api.replaceNamespacedLease({ name, namespace, body: this.desired(lease, now) });
      return true;
    } catch (error) {
      if (isConflict(error)) return false;
      throw error;
    }
  }

  /** Stops campaigning; a leader hands the Lease back so a standby need not wait for it to expire. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.api.readNamespacedLease({ name: this.options.name, namespace: this.options.namespace });
      if (lease.spec?.holderIdentity === this.options.identity) {
        lease.spec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 };
        await this.api.replaceNamespacedLease({ name: this.options.name, namespace: this.options.namespace, body: lease });
      }
    } catch (error) {
      this.log.warn({ err: error }, 'could not release the lease');
    }
  }
}
