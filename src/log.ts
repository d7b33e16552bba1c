import { type Logger, pino } from 'pino';
import { LOG_REDACTED_KEYS, LOG_SECRET_KEYS } from './privacy/classification.ts';

// Personal data never reaches the logs (DESIGN.md invariant 10): redaction is configured once, here,
// from the classification (src/privacy/classification.ts), at the top level and two levels down.
const redactPaths = [...LOG_REDACTED_KEYS, ...LOG_SECRET_KEYS].flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    { level, base: { service: 'intervene' }, redact: { paths: redactPaths, censor: '[redacted]' } },
    destination as pino.DestinationStream | undefined,
  );
}
