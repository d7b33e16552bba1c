import { runService } from '../src/service.ts';

// A process that folds report facts into the aggregates and produces the scheduled reports (3.3).
await runService(['reports']);
