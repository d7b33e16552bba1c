import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { FieldError } from '../domain/errors.ts';
import { type Policy, PolicyError, parsePolicyYaml } from '../policy/policy.ts';
import type { Command } from './command.ts';
import { print } from './command.ts';

// `intervene policy check FILE...`: validates policy files as the service would load them, without
// Redis, and prints every error with its path and rule.

interface FileResult {
  readonly file: string;
  readonly valid: boolean;
  readonly contract?: { readonly id: string; readonly name: string; readonly version: number };
  readonly errors: readonly FieldError[];
}

async function filesOf(path: string): Promise<string[] | FieldError> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return { path: '(file)', message: 'no such file or directory' };
  if (!info.isDirectory()) return [path];
  const files = (await readdir(path))
    .filter((f) => ['.yaml', '.yml'].includes(extname(f)))
    .sort()
    .map((f) => join(path, f));
  return files.length > 0 ? files : { path: '(dir)', message: 'holds no .yaml policy file' };
}

async function checkFile(file: string): Promise<{ result: FileResult; policy?: Policy }> {
  try {
    const policy = parsePolicyYaml(await readFile(file, 'utf8'), file);
    const { id, name, version } = policy.contract;
    return { result: { file, valid: true, contract: { id, name, version }, errors: [] }, policy };
  } catch (error) {
    if (error instanceof PolicyError) return { result: { file, valid: false, errors: error.errors } };
    return { result: { file, valid: false, errors: [{ path: '(file)', message: (error as Error).message }] } };
  }
}

export async function checkPolicies(paths: readonly string[]): Promise<FileResult[]> {
  const results: FileResult[] = [];
  const loaded = new Map<string, { file: string; digest: string }>();
  for (const path of paths) {
    const files = await filesOf(path);
    if (!Array.isArray(files)) {
      results.push({ file: path, valid: false, errors: [files] });
      continue;
    }
    for (const file of files) {
      const { result, policy } = await checkFile(file);
      const key = policy && `${policy.contract.id}@${policy.contract.version}`;
      const twin = key ? loaded.get(key) : undefined;
      if (policy && key && twin && twin.digest !== policy.digest) {
        // The service refuses to load one contract version twice with different content (pinning, invariant 7).
        results.push({
          ...result,
          valid: false,
          errors: [
            {
              path: 'contract.version',
              message: `${key} is also in ${twin.file} with different content: give an edited policy a new version`,
            },
          ],
        });
        continue;
      }
      if (policy && key) loaded.set(key, { file, digest: policy.digest });
      results.push(result);
    }
  }
  return results;
}

export const policyCheck: Command = {
  usage: 'policy check FILE... [--json]',
  help: `Validates contract policy files (or directories of .yaml/.yml files) as the service loads them,
without Redis. Each error is printed with its path in the file and the rule it breaks, e.g.
  deadlines.firstResponse.within: not an ISO-8601 duration ...

  --json    JSON: { "valid": bool, "files": [{ "file", "valid", "contract", "errors": [{ "path", "message" }] }] }

Exit codes: 0 every file is valid; 2 a file is invalid or missing (or bad usage); 1 unexpected failure.
A valid file can still be refused at start if Redis holds different content under the same contract
version (edit a policy, give it a new version).`,
  options: { json: { type: 'boolean' } },
  positionals: [1, 100],
  async run(values, positionals, io) {
    const files = await checkPolicies(positionals);
    const valid = files.every((f) => f.valid);
    print(io, values, { valid, files }, () =>
      files
        .map((f) =>
          f.valid && f.contract
            ? `${f.file}: valid — ${f.contract.id} version ${f.contract.version} (${f.contract.name})`
            : [`${f.file}: invalid`, ...f.errors.map((e) => `  ${e.path}: ${e.message}`)].join('\n'),
        )
        .join('\n'),
    );
    return valid ? 0 : 2;
  },
};
