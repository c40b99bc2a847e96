// Human-friendly durations ("7d", "12h", "500ms") and sizes ("10Gi", "500MB"),
// as users write them in retention rules, flags and Kubernetes specs.
import { FloError, type ErrorCode } from './errors.js';

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  ki: 2 ** 10, kib: 2 ** 10, mi: 2 ** 20, mib: 2 ** 20, gi: 2 ** 30, gib: 2 ** 30, ti: 2 ** 40, tib: 2 ** 40,
};

export function parseDurationMs(value: unknown, what: string, code: ErrorCode = 'FLO_ERR_REQUEST_INVALID'): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  const match = typeof value === 'string' ? /^(\d+)\s*(ms|s|m|h|d|w)$/.exec(value.trim()) : null;
  const result = match ? Number(match[1]) * DURATION_UNITS_MS[match[2]!]! : NaN;
  if (!Number.isSafeInteger(result) || result <= 0) {
    throw new FloError(code, `${what} must be a positive duration like "500ms", "30s", "15m", "12h", "7d" or a number of milliseconds`);
  }
  return result;
}

export function parseSizeBytes(value: unknown, what: string, code: ErrorCode = 'FLO_ERR_REQUEST_INVALID'): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  const match = typeof value === 'string' ? /^(\d+)\s*([a-zA-Z]*)$/.exec(value.trim()) : null;
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  const result = match && unit !== undefined ? Number(match[1]) * unit : NaN;
  if (!Number.isSafeInteger(result) || result <= 0) {
    throw new FloError(code, `${what} must be a positive size like 1048576, "500Mi" or "10GB"`);
  }
  return result;
}

export function parseCount(value: unknown, what: string, code: ErrorCode = 'FLO_ERR_REQUEST_INVALID'): number {
  const result = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof result !== 'number' || !Number.isSafeInteger(result) || result <= 0) {
    throw new FloError(code, `${what} must be a positive whole number`);
  }
  return result;
}
