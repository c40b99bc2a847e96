// `flo consume`: prints matching events from a position; stops at the end of the
// stream unless -t tails it. A tail outlives broker restarts: it retries with
// backoff for as long as the user lets it run, says so on stderr, and resumes
// from the last event printed (no gap, no duplicate). Ctrl-C ends it cleanly.
// --json prints one JSON object per line for scripts.
import { Command } from 'commander';
import { connect, FloClient } from '../client/client.js';
import type { Subscription, SubscriptionRetry } from '../client/subscription.js';
import { socketErrorCode } from '../client/http.js';
import { toEventJson, type FloEvent } from '../common/event.js';
import { addBrokerOptions, parsePositiveInt, Progress, reportFailure, type BrokerFlags } from './common.js';

/** Without -t a lost broker is retried this many times in a row before consume gives up. */
const REPLAY_CONNECT_ATTEMPTS = 5;

interface ConsumeFlags extends BrokerFlags {
  namespace: string;
  from: string;
  tail?: boolean;
  json?: boolean;
  limit?: number;
}

export function consumeCommand(): Command {
  const command = new Command('consume')
    .description('print events matching a namespace glob, from a position; -t keeps tailing')
    .option('-n, --namespace <glob>', 'namespace glob, e.g. "/food/**", "/food/*/eggs", "/{food,drinks}/**"', '/**')
    .option('-f, --from <position>', 'earliest, latest, an event id (that event included), a cursor (resumes after the last event read), or a time (ISO 8601, e.g. 2026-11-22T10:00:00Z)', 'earliest')
    .option('-t, --tail', 'keep printing new events after the replay, across broker restarts (Ctrl-C stops)')
    .option('--json', 'one JSON object per line: id, parentId, namespace, timestamp, data or dataBase64')
    .option('--limit <n>', 'stop after n events', parsePositiveInt);
  return addBrokerOptions(command).action(async (flags: ConsumeFlags) => {
    let client: FloClient | undefined;
    let subscription: Subscription | undefined;
    let stopped = false;
    const onSignal = (): void => {
      stopped = true;
      subscription?.close();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      // A tail waits for a broker that is not up yet (the subscription retries and says so); a replay checks first.
      client = flags.tail ? new FloClient(flags.url, { token: flags.token }) : await connect(flags.url, { token: flags.token });
      if (stopped) return;
      subscription = client.subscribe({
        namespace: flags.namespace,
        from: flags.from,
        follow: Boolean(flags.tail),
        maxConnectAttempts: flags.tail ? Infinity : REPLAY_CONNECT_ATTEMPTS,
        reconnectTimeoutMs: flags.tail ? Infinity : undefined,
        onRetry: (retry) => process.stderr.write(`flo: ${retryMessage(retry)}\n`),
        onResumed: () => process.stderr.write('flo: reconnected, resuming after the last event printed\n'),
      });
      await printEvents(subscription, flags);
    } catch (error) {
      reportFailure(error);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await client?.close();
    }
  });
}

/** "broker unreachable (ECONNREFUSED), retrying in 2s…" */
export function retryMessage(retry: SubscriptionRetry): string {
  const seconds = retry.delayMs < 1000 ? (retry.delayMs / 1000).toFixed(1) : String(Math.round(retry.delayMs / 1000));
  const reason = retry.error.code === 'FLO_ERR_CONNECTION' ? 'broker unreachable' : `broker refused (${retry.error.code})`;
  const cause = retry.error.code === 'FLO_ERR_CONNECTION' ? socketErrorCode(retry.error.cause) : undefined;
  return `${reason}${cause ? ` (${cause})` : ''}, retrying in ${seconds}s…`;
}

async function printEvents(subscription: Subscription, flags: ConsumeFlags): Promise<void> {
  const progress = new Progress('consumed', Boolean(process.stderr.isTTY) && !process.stdout.isTTY);
  let chunk = '';
  for await (const event of subscription) {
    chunk += flags.json ? JSON.stringify(toEventJson(event)) + '\n' : formatEvent(event);
    progress.tick();
    // Printed in chunks while a replay streams in, and at once whenever the next event has to be waited for:
    // a tail must never sit on an event it has (the caught-up marker can arrive after the last event's frame).
    if (chunk.length > 65536 || subscription.buffered === 0) {
      await write(chunk);
      chunk = '';
    }
    if (flags.limit !== undefined && progress.count >= flags.limit) break;
  }
  await write(chunk);
  progress.finish();
}

function formatEvent(event: FloEvent): string {
  const json = toEventJson(event);
  const lines = [`EventId: ${json.id}`];
  if (json.parentId) lines.push(`ParentId: ${json.parentId}`);
  lines.push(`Namespace: ${json.namespace}`, `Timestamp: ${json.timestamp}`, json.data ?? `(base64) ${json.dataBase64}`);
  return lines.join('\n') + '\n\n';
}

function write(text: string): Promise<void> {
  if (text.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    if (process.stdout.write(text)) resolve();
    else process.stdout.once('drain', resolve);
  });
}
