import type { Policy } from '../policy/policy.ts';
import { type Disclosures, projectCustomer, projectHistory, projectView } from '../privacy/projection.ts';
import type { Principal } from './keys.ts';

// 4.1 / 4.2: every surface shows a case through these; the rules live in src/privacy (classification.ts
// says what each field is, projection.ts what each role and department sees of it).

type Customer = { id: string; name: string; phone?: string; email?: string };

/** Customer data as the caller may see it: whole, the department's listed fields, or masked. */
export function customerFor(customer: Customer, principal: Principal, policy: Policy): Partial<Customer> {
  return projectCustomer(customer, principal, policy.departments);
}

/**
 * The case view a caller may see. CS roles and backends see it whole; a department the fields its
 * policy entry lists (4.1); ops and auditors see personal data masked and free text withheld (4.2).
 * What personal data it showed is recorded in `sink`, the request's disclosures, for its access log (6.1).
 */
export function viewFor<V extends { id: string; customer: Customer }>(
  view: V,
  principal: Principal,
  policy: Policy,
  sink: Disclosures | undefined,
): Omit<V, 'customer'> & { customer: Partial<Customer> } {
  return projectView(view, principal, policy.departments, sink);
}

/** The audit trail as the caller may see it: each event's free text by the same rules. */
export function historyFor(
  caseId: string,
  entries: readonly object[],
  principal: Principal,
  policy: Policy,
  sink: Disclosures | undefined,
): object[] {
  return projectHistory(caseId, entries, principal, policy.departments, sink);
}
