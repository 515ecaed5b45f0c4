import { describe, expect, it } from 'vitest'
import type { Holder, SocketEntry } from '../../core/types.js'
import { socketsJsonChunks } from '../../core/wire.js'

/** Every line break the SSE grammar knows (CR, LF), and the ones JSON.stringify leaves raw. */
const BREAKS = 'a\nb\rc\r\nd\u2028e\u2029f\u0085g'

describe('the baseline the event stream writes after one `data: `', () => {
  it('socketsJsonChunks never emits CR or LF, whatever the holders, users and namespaces are called', () => {
    const holder: Holder = {
      pid: 4242,
      name: BREAKS,
      command: `${BREAKS} --flag ${BREAKS}`,
      user: BREAKS,
      uid: 1000,
      startedAt: null,
      startTicks: null,
      container: BREAKS,
      dockerContainer: { id: BREAKS, name: BREAKS, address: BREAKS },
    }
    const socket: SocketEntry = {
      protocol: 'tcp',
      family: 'ipv4',
      state: 'LISTEN',
      localAddress: '127.0.0.1',
      localPort: 8080,
      remoteAddress: '0.0.0.0',
      remotePort: 0,
      inode: 1,
      uid: 1000,
      user: BREAKS,
      processes: [holder],
      kernel: { interface: BREAKS, linkKind: BREAKS, description: BREAKS, fix: BREAKS },
      netns: { inode: 2, name: BREAKS, containerId: BREAKS, host: false },
    }
    // Enough sockets for several 64 KiB chunks.
    const sockets = Array.from({ length: 200 }, (_, i) => ({ ...socket, localPort: i + 1 }))
    const chunks = [...socketsJsonChunks(sockets)]
    expect(chunks.length).toBeGreaterThan(1)
    const text = chunks.join('')
    expect(text).not.toMatch(/[\r\n]/)
    expect(JSON.parse(text)[0].processes[0].command).toBe(holder.command)
  })
})
