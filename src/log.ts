import { type Logger, pino } from 'pino';

// Personal data never reaches the logs (DESIGN.md invariant 10): redaction is configured once, here.
const PII = ['name', 'phone', 'email', 'description', 'subject'];
const redactPaths = [
  'customer',
  '*.customer',
  'open',
  '*.open',
  ...PII.flatMap((f) => [`customer.${f}`, `*.customer.${f}`]),
  'headers.authorization',
  'req.headers.authorization',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    { level, base: { service: 'intervene' }, redact: { paths: redactPaths, censor: '[redacted]' } },
    destination as pino.DestinationStream | undefined,
  );
}
