import { runService } from './service.ts';

// `npm start`: the service in one process — the HTTP API and every worker (INTERVENE_WORKERS picks some).
await runService();
