import { runService } from '../src/service.ts';

// A process that delivers hand-offs and customer notices as signed webhooks.
await runService(['notify']);
