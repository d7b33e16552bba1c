import {
  type AnyActorScope,
  type AnyStateMachine,
  createActor,
  type EventFromLogic,
  type InputFrom,
  type SnapshotFrom,
} from 'xstate';

// XState's pure `transition(machine, snapshot, event)` builds a throwaway actor on every call, and the
// actor eagerly computes the machine's initial snapshot (entering its initial state, running its
// eventless transitions): about a third of the allocation of a case machine transition. This does the
// same pure step with one inert actor scope per machine, made once. Safe for this machine: it spawns no
// child actors and sends to no system ids, the only things the scope would carry between calls, and a
// transition is synchronous, so the per-call action collector cannot interleave. test/support/machine.ts
// checks every transition of the machine tests against XState's own `transition`.

const scopes = new WeakMap<AnyStateMachine, AnyActorScope>();
const ignore = () => {};

function scopeOf(machine: AnyStateMachine): AnyActorScope {
  let scope = scopes.get(machine);
  if (!scope) {
    const self = createActor(machine);
    scope = {
      self,
      defer: ignore,
      id: '',
      logger: ignore,
      sessionId: '',
      stopChild: ignore,
      system: self.system,
      emit: ignore,
      actionExecutor: ignore,
    } as unknown as AnyActorScope;
    scopes.set(machine, scope);
  }
  return scope;
}

/** The next snapshot and the actions to execute, as XState's `transition` returns them. */
export function pureTransition<M extends AnyStateMachine>(
  machine: M,
  snapshot: SnapshotFrom<M>,
  event: EventFromLogic<M>,
): [SnapshotFrom<M>, { type: string; params?: unknown }[]] {
  const scope = scopeOf(machine);
  const actions: { type: string; params?: unknown }[] = [];
  scope.actionExecutor = (action) => {
    actions.push(action as never);
  };
  try {
    return [machine.transition(snapshot, event, scope) as SnapshotFrom<M>, actions];
  } finally {
    scope.actionExecutor = ignore;
  }
}

/** The first snapshot and its actions, as XState's `initialTransition` returns them. */
export function pureInitialTransition<M extends AnyStateMachine>(
  machine: M,
  input: InputFrom<M>,
): [SnapshotFrom<M>, { type: string; params?: unknown }[]] {
  const scope = scopeOf(machine);
  const actions: { type: string; params?: unknown }[] = [];
  scope.actionExecutor = (action) => {
    actions.push(action as never);
  };
  try {
    return [machine.getInitialSnapshot(scope, input) as SnapshotFrom<M>, actions];
  } finally {
    scope.actionExecutor = ignore;
  }
}
