import { runService } from '../src/service.ts';

// A process that fires deadline jobs into engine.apply (and sweeps the outbox).
await runService(['deadlines', 'dispatcher']);
