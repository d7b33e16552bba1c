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
// same pure step with one inert actor scope per machine, made once. Safe for this machine: it invokes and
// spawns no actors, has no delayed transitions and sends to no system ids (the only things the scope
// would carry between calls; the first two are checked when the scope is made), and a transition is
// synchronous, so the per-call action collector cannot interleave. It relies on XState's
// `machine.transition(snapshot, event, scope)`, which is why package.json pins xstate exactly. test/support/machine.ts
// checks every transition of the machine tests against XState's own `transition`.

const scopes = new WeakMap<AnyStateMachine, AnyActorScope>();
const ignore = () => {};

/** The reuse is sound only for a machine without invoked actors or delayed transitions: checked once. */
function assertReusable(node: AnyStateMachine['root'], path = 'case'): void {
  if (node.invoke.length > 0 || node.after.length > 0) {
    throw new Error(
      `machines/transition.ts: state ${path} invokes actors or has delayed transitions; use XState's transition()`,
    );
  }
  for (const [key, child] of Object.entries(node.states)) assertReusable(child, `${path}.${key}`);
}

function scopeOf(machine: AnyStateMachine): AnyActorScope {
  let scope = scopes.get(machine);
  if (!scope) {
    assertReusable(machine.root);
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

type Actions = { type: string; params?: unknown }[];

/** Runs one step on the machine's scope, collecting the actions it would execute. */
function collecting<M extends AnyStateMachine>(
  machine: M,
  step: (scope: AnyActorScope) => unknown,
): [SnapshotFrom<M>, Actions] {
  const scope = scopeOf(machine);
  const actions: Actions = [];
  scope.actionExecutor = (action) => {
    actions.push(action as never);
  };
  try {
    return [step(scope) as SnapshotFrom<M>, actions];
  } finally {
    scope.actionExecutor = ignore;
  }
}

/** The next snapshot and the actions to execute, as XState's `transition` returns them. */
export function pureTransition<M extends AnyStateMachine>(
  machine: M,
  snapshot: SnapshotFrom<M>,
  event: EventFromLogic<M>,
): [SnapshotFrom<M>, Actions] {
  return collecting(machine, (scope) => machine.transition(snapshot, event, scope));
}

/** The first snapshot and its actions, as XState's `initialTransition` returns them. */
export function pureInitialTransition<M extends AnyStateMachine>(
  machine: M,
  input: InputFrom<M>,
): [SnapshotFrom<M>, Actions] {
  return collecting(machine, (scope) => machine.getInitialSnapshot(scope, input));
}
