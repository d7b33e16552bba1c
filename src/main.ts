import { runService } from './service.ts';

// `npm start`: the service in one process — deadline and notification workers and the outbox
// dispatcher. The HTTP API joins this process when its issue lands.
await runService();
