import { runService } from '../src/service.ts';

// A process that applies intake-queue jobs (opens and events from backends) through the engine.
await runService(['intake', 'dispatcher']);
