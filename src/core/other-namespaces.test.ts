import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { NamespaceHolders } from './other-namespaces.js'
import { noteOtherNamespaces } from './other-namespaces.js'

type Entry = { protocol: 'tcp'; port: number; otherNamespaces?: NamespaceHolders[] }

// The other-namespace note never fails the `who`/`check` it is added to.
describe('noteOtherNamespaces: a failed lookup is no note, not a failed command', () => {
  it('a /proc that cannot be read (the namespaces are never found) leaves the entries unnoted', async () => {
    const entries: Entry[] = [{ protocol: 'tcp', port: 8080 }]
    const procRoot = join(tmpdir(), `pw-no-proc-${process.pid}-${Date.now()}`) // does not exist
    await expect(noteOtherNamespaces(entries, { procRoot })).resolves.toEqual([])
    expect(entries[0]).toEqual({ protocol: 'tcp', port: 8080 })
  })

  it('an error that is not a PortwardenError (a bug on the way) leaves them unnoted too', async () => {
    // The options are read on the way down; a getter that throws stands for any plain Error
    // there (nothing of the kernel is replaced: it is the caller's object that fails).
    const options = {
      get procRoot(): string {
        throw new TypeError('not a PortwardenError')
      },
    }
    const entries: Entry[] = [{ protocol: 'tcp', port: 8080 }]
    await expect(noteOtherNamespaces(entries, options)).resolves.toEqual([])
    expect(entries[0]?.otherNamespaces).toBeUndefined()
  })
})
