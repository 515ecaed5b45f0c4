import { describe, expect, it } from 'vitest'
import type { Holder, SocketEntry } from '../types.js'
import type { DockerContainer } from './docker-engine.js'
import { containerForHolder, mayStandForContainer } from './container-holders.js'

// As the Engine API lists them (test/docker.test.ts checks the same against a live engine).
const CONTAINERS: DockerContainer[] = [
  {
    id: 'a'.repeat(64),
    name: 'web',
    ports: [
      { ip: '127.0.0.1', privatePort: 80, publicPort: 8080, protocol: 'tcp' },
      { ip: '::1', privatePort: 80, publicPort: 8080, protocol: 'tcp' },
    ],
    addresses: ['172.17.0.2', 'fd00::2'],
  },
  {
    id: 'b'.repeat(64),
    name: 'dns',
    ports: [{ ip: '0.0.0.0', privatePort: 53, publicPort: 5353, protocol: 'udp' }],
    addresses: ['172.17.0.3'],
  },
  {
    id: 'c'.repeat(64),
    name: 'other-ip',
    ports: [{ ip: '127.0.0.2', privatePort: 80, publicPort: 8080, protocol: 'tcp' }],
    addresses: ['172.17.0.4'],
  },
]

function holder(name: string, container: string | null = null): Holder {
  return {
    pid: 700,
    name,
    command: name,
    user: 'root',
    uid: 0,
    startedAt: null,
    startTicks: null,
    container,
  }
}

function socket(
  localAddress: string,
  localPort: number,
  protocol: 'tcp' | 'udp' = 'tcp',
): Pick<SocketEntry, 'protocol' | 'family' | 'localAddress' | 'localPort'> {
  return { protocol, family: localAddress.includes(':') ? 'ipv6' : 'ipv4', localAddress, localPort }
}

describe('containerForHolder', () => {
  it('names dockerd by the port binding of the socket it holds, with the address of its family', () => {
    const dockerd = holder('dockerd')
    expect(containerForHolder(dockerd, socket('127.0.0.1', 8080), CONTAINERS)).toEqual({
      name: 'web',
      id: 'a'.repeat(64),
      address: '172.17.0.2:80',
    })
    expect(containerForHolder(dockerd, socket('::1', 8080), CONTAINERS)?.address).toBe(
      '[fd00::2]:80',
    )
    expect(containerForHolder(dockerd, socket('127.0.0.2', 8080), CONTAINERS)?.name).toBe(
      'other-ip',
    )
    expect(containerForHolder(dockerd, socket('0.0.0.0', 5353, 'udp'), CONTAINERS)?.name).toBe(
      'dns',
    )
  })

  it('names nothing for a dockerd socket no binding explains (its own API on TCP)', () => {
    const dockerd = holder('dockerd')
    expect(containerForHolder(dockerd, socket('127.0.0.1', 2375), CONTAINERS)).toBeNull()
    expect(containerForHolder(dockerd, socket('0.0.0.0', 5353, 'tcp'), CONTAINERS)).toBeNull()
    expect(containerForHolder(dockerd, socket('10.0.0.1', 8080), CONTAINERS)).toBeNull()
    expect(containerForHolder(dockerd, null, CONTAINERS)).toBeNull()
  })

  it('names docker-proxy by the address on its command line, socket or not', () => {
    const proxy = holder('docker-proxy', '172.17.0.3:53')
    expect(containerForHolder(proxy, null, CONTAINERS)).toEqual({
      name: 'dns',
      id: 'b'.repeat(64),
      address: '172.17.0.3:53',
    })
    expect(containerForHolder(holder('docker-proxy', '[fd00::2]:80'), null, CONTAINERS)?.name).toBe(
      'web',
    )
    // An address no container has: by the published port, when the socket is known.
    const stray = holder('docker-proxy', '172.17.0.9:80')
    expect(containerForHolder(stray, null, CONTAINERS)).toBeNull()
    expect(containerForHolder(stray, socket('127.0.0.1', 8080), CONTAINERS)?.name).toBe('web')
  })

  it('asks only for docker-proxy with an address, and dockerd', () => {
    expect(mayStandForContainer(holder('dockerd'))).toBe(true)
    expect(mayStandForContainer(holder('docker-proxy', '172.17.0.2:80'))).toBe(true)
    // A proxy whose command line names no address (rootlessport): nothing to ask the engine.
    expect(mayStandForContainer(holder('rootlessport', 'rootlessport'))).toBe(false)
    expect(mayStandForContainer(holder('node'))).toBe(false)
    expect(mayStandForContainer(holder('node', '172.17.0.2:80'))).toBe(false)
    expect(mayStandForContainer(holder('containerd'))).toBe(false)
  })
})
