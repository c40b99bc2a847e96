import { describe, expect, it } from 'vitest';
import { retryMessage } from '../../src/cli/consume-command.js';
import { connectionError } from '../../src/client/http.js';
import { FloError } from '../../src/common/errors.js';

describe('flo consume retry message', () => {
  it('names the socket error code of an unreachable broker', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:3000'), { code: 'ECONNREFUSED' });
    const error = connectionError('http://127.0.0.1:3000', refused);
    expect(retryMessage({ attempt: 1, delayMs: 100, error })).toBe('broker unreachable (ECONNREFUSED), retrying in 0.1s…');
  });

  it('names no cause when the connection closed without a socket error', () => {
    const error = new FloError('FLO_ERR_CONNECTION', 'the connection to the broker at http://127.0.0.1:3000 closed');
    expect(retryMessage({ attempt: 2, delayMs: 2000, error })).toBe('broker unreachable, retrying in 2s…');
  });

  it('does not take words in parentheses of a refusal for a cause', () => {
    const error = new FloError('FLO_ERR_SHUTTING_DOWN', 'the broker is shutting down (SIGTERM)');
    expect(retryMessage({ attempt: 1, delayMs: 400, error })).toBe('broker refused (FLO_ERR_SHUTTING_DOWN), retrying in 0.4s…');
  });
});
