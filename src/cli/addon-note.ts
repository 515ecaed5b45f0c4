import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PACKAGE_ROOT } from '../core/package-root.js'
import { missingAddonReason } from '../core/sockets/native-addon.js'
import { defaultStateDirectory, makeDirectories } from '../core/state-dir.js'

/**
 * One line on stderr, once per install (a marker file in the state directory, named after the
 * install's path and version), when this command went without the native addon it looked for:
 * every answer is still right, only slower at many sockets. Nothing when the addon was turned off
 * on purpose.
 */
export function noteMissingAddonOnce(version: string, write: (line: string) => void): void {
  const reason = missingAddonReason()
  if (reason === null) return
  const install = createHash('sha256').update(`${PACKAGE_ROOT}\0${version}`).digest('hex')
  const directory = defaultStateDirectory()
  try {
    makeDirectories(directory)
    writeFileSync(join(directory, `addon-note-${install.slice(0, 16)}`), `${reason}\n`, {
      flag: 'wx',
      mode: 0o600,
    })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return // said before
    // A state directory we cannot write: say it anyway rather than never.
  }
  write(
    `portwarden: note: the native addon is not in use (${reason}), so the slower /proc path answers; ` +
      'rebuild it with `npm rebuild portwarden` (needs python3, make and g++). This note is shown once.',
  )
}
