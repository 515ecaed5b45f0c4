import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { defaultStateDirectory } from '../state-dir.js'
import type { Allocation, RegistryStore } from './types.js'

export interface OpenRegistryOptions {
  /** A file path or a `postgres://` URL; default: PORTWARDEN_REGISTRY, then the state directory. */
  location?: string
  /** How long to wait for another process's lock, in ms. Default PORTWARDEN_REGISTRY_TIMEOUT, else 5000. */
  timeoutMs?: number
  /** When false, a registry file that does not exist yet is not created: `openRegistry` returns null. */
  create?: boolean
}

/** `PORTWARDEN_REGISTRY_TIMEOUT` in ms, when it is a sane whole number. */
export function registryTimeoutFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const text = env.PORTWARDEN_REGISTRY_TIMEOUT
  if (text === undefined || !/^[0-9]{1,7}$/.test(text)) return undefined
  return Number(text)
}

/** `$XDG_STATE_HOME/portwarden/registry.db`, else `~/.local/state/portwarden/registry.db`. */
export function defaultRegistryPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(defaultStateDirectory(env), 'registry.db')
}

export function resolveRegistryLocation(
  location?: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return location || env.PORTWARDEN_REGISTRY || defaultRegistryPath(env)
}

export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location)
}

/** Opens the registry: SQLite for a path, PostgreSQL for a `postgres://` URL. */
export async function openRegistry(
  options: OpenRegistryOptions & { create: false },
): Promise<RegistryStore | null>
export async function openRegistry(options?: OpenRegistryOptions): Promise<RegistryStore>
export async function openRegistry(
  options: OpenRegistryOptions = {},
): Promise<RegistryStore | null> {
  const location = resolveRegistryLocation(options.location)
  const timeoutMs = options.timeoutMs ?? registryTimeoutFromEnv()
  if (isPostgresUrl(location)) {
    const { openPostgresStore } = await import('./postgres-store.js')
    return openPostgresStore(location, { timeoutMs })
  }
  if (options.create === false && !existsSync(location)) return null
  const { openSqliteStore } = await import('./sqlite-store.js')
  return openSqliteStore(location, { timeoutMs })
}

/** Opens (creating it when needed) the registry for one piece of work, and always closes it. */
export async function withRegistry<T>(
  options: OpenRegistryOptions,
  work: (store: RegistryStore) => Promise<T>,
): Promise<T> {
  const store = await openRegistry({ ...options, create: true })
  try {
    return await work(store)
  } finally {
    await store.close()
  }
}

/**
 * For work that only reads or removes: a registry file that does not exist yet is not made;
 * `work` gets null instead (nothing is allocated).
 */
export async function withExistingRegistry<T>(
  options: OpenRegistryOptions,
  work: (store: RegistryStore | null) => Promise<T>,
): Promise<T> {
  const store = await openRegistry({ ...options, create: false })
  try {
    return await work(store)
  } finally {
    await store?.close()
  }
}

/**
 * Every allocation of the existing registry, for the stale evidence (the registry sign) of
 * `who`, `check` and `free`: none when there is no registry. Never throws: the socket tables
 * answer those questions, so a registry that cannot be read is only a warning.
 */
export async function allocationsForEvidence(
  options: OpenRegistryOptions = {},
): Promise<{ allocations: Allocation[]; warnings: string[] }> {
  try {
    return {
      allocations: await withExistingRegistry(options, async (store) =>
        store ? store.list({}) : [],
      ),
      warnings: [],
    }
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error)).replace(/\.$/, '')
    return {
      allocations: [],
      warnings: [`the registry was not consulted for the stale evidence: ${reason}`],
    }
  }
}
