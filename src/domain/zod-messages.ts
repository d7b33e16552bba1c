import { z } from 'zod';

// Plain messages for the rules every schema shares, so each error names the field and the rule.
z.config({
  customError: (issue) => {
    if (issue.code !== 'invalid_type') return undefined;
    if (issue.input === undefined) return 'required';
    if (issue.expected === 'number' && Number.isNaN(issue.input)) return 'must be a number';
    return `must be a${/^[aeiou]/.test(issue.expected) ? 'n' : ''} ${issue.expected}`;
  },
});
