import type { Policy } from '../policy/policy.ts';
import type { Principal } from './keys.ts';

type Customer = { id: string; name: string; phone?: string; email?: string };

const maskName = (name: string) => `${[...name][0] ?? ''}${'*'.repeat(Math.max(1, [...name].length - 1))}`;
const maskPhone = (phone: string) => `${'*'.repeat(Math.max(0, phone.length - 4))}${phone.slice(-4)}`;
const maskEmail = (email: string) => email.replace(/^(.).*(@.*)$/, '$1***$2');

/**
 * 4.2: customer data as the caller may see it. CS roles and backends see it whole; a department sees
 * the fields its policy entry lists (4.1); ops and auditors see it masked.
 */
export function customerFor(customer: Customer, principal: Principal, policy: Policy): Partial<Customer> {
  if (['service', 'agent', 'supervisor'].includes(principal.role)) return customer;
  if (principal.role === 'department') {
    const fields = new Set(policy.departments[principal.department ?? '']?.fields ?? []);
    const out: Partial<Customer> = { id: customer.id };
    if (fields.has('customer.name')) out.name = customer.name;
    if (fields.has('customer.phone') && customer.phone) out.phone = customer.phone;
    if (fields.has('customer.email') && customer.email) out.email = customer.email;
    return out;
  }
  return {
    id: customer.id,
    name: maskName(customer.name),
    ...(customer.phone ? { phone: maskPhone(customer.phone) } : {}),
    ...(customer.email ? { email: maskEmail(customer.email) } : {}),
  };
}

/** 4.1: the case view a caller may see — customer per role, and for a department only its listed case fields. */
export function viewFor<V extends { customer: Customer; subject?: string; amount?: unknown; externalRef?: string }>(
  view: V,
  principal: Principal,
  policy: Policy,
): Omit<V, 'customer'> & { customer: Partial<Customer> } {
  const customer = customerFor(view.customer, principal, policy);
  if (principal.role !== 'department') return { ...view, customer };
  const fields = new Set(policy.departments[principal.department ?? '']?.fields ?? []);
  const { subject, amount, externalRef, ...rest } = view;
  return {
    ...rest,
    customer,
    ...(fields.has('subject') && subject !== undefined ? { subject } : {}),
    ...(fields.has('amount') && amount !== undefined ? { amount } : {}),
    ...(fields.has('externalRef') && externalRef !== undefined ? { externalRef } : {}),
  } as unknown as Omit<V, 'customer'> & { customer: Partial<Customer> };
}
