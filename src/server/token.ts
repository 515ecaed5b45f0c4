import { randomBytes } from 'node:crypto'
import { closeSync, constants, fstatSync, openSync, readFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { PortwardenError, errnoOf } from '../core/errors.js'
import { defaultStateDirectory, makeDirectories } from '../core/state-dir.js'

/** `PORTWARDEN_STATE_DIR`, else `$XDG_STATE_HOME/portwarden`, else `~/.local/state/portwarden`. */
export function stateDirectory(env: NodeJS.ProcessEnv = process.env): string {
  return env.PORTWARDEN_STATE_DIR && env.PORTWARDEN_STATE_DIR.startsWith('/')
    ? env.PORTWARDEN_STATE_DIR
    : defaultStateDirectory(env)
}

const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43,512}$/

/**
 * The API token: 32 random bytes (base64url) in `DIR/token`, created 0600 in a 0700 directory
 * at first start, read back afterwards. A token file others can read, or one that is not a
 * regular file of ours, is refused: loopback is shared by every local user.
 */
export function loadOrCreateToken(directory: string): {
  token: string
  path: string
  created: boolean
} {
  const path = join(directory, 'token')
  try {
    makeDirectories(directory)
  } catch (error) {
    throw tokenError(path, error)
  }
  try {
    const fd = openSync(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    )
    const token = randomBytes(32).toString('base64url')
    try {
      writeSync(fd, `${token}\n`)
    } finally {
      closeSync(fd)
    }
    return { token, path, created: true }
  } catch (error) {
    if (errnoOf(error) !== 'EEXIST') throw tokenError(path, error)
  }
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  } catch (error) {
    throw tokenError(path, error)
  }
  try {
    const stat = fstatSync(fd)
    if (!stat.isFile() || (process.getuid && stat.uid !== process.getuid())) {
      throw new PortwardenError(
        'permission_denied',
        `The token file ${path} is not a regular file owned by you.`,
        {
          hint: `Remove it; \`portwarden serve\` creates a new one.`,
        },
      )
    }
    if ((stat.mode & 0o077) !== 0) {
      throw new PortwardenError(
        'permission_denied',
        `The token file ${path} can be read by other users (mode ${(stat.mode & 0o777).toString(8)}).`,
        { hint: `Run \`chmod 600 ${path}\`, or remove it to get a new token.` },
      )
    }
    const token = readFileSync(fd, 'utf8').trim()
    if (!TOKEN_PATTERN.test(token)) {
      throw new PortwardenError(
        'permission_denied',
        `The token file ${path} does not hold a token.`,
        {
          hint: 'Remove it; `portwarden serve` creates a new one.',
        },
      )
    }
    return { token, path, created: false }
  } finally {
    closeSync(fd)
  }
}

function tokenError(path: string, cause: unknown): PortwardenError {
  return new PortwardenError(
    'permission_denied',
    `Cannot use the token file ${path}: ${cause instanceof Error ? cause.message : String(cause)}.`,
    { cause, hint: 'Set PORTWARDEN_STATE_DIR to a directory you own.' },
  )
}
