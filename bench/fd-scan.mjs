#!/usr/bin/env node
// The holder scan alone (issue 4, item 2): which pid holds every socket inode on the machine,
// by each method portwarden has, on whatever population is running now
// (start one with `node bench/population.mjs --scale large --ttl 600`). Needs `npm run build`.
//
//   node bench/fd-scan.mjs [--runs 7]
//
// Methods: the addon's BPF task_file iterator (root only; the first call loads it, and is
// reported apart), the addon's /proc/<pid>/fd walk (readlink or fstatat's st_ino; 1, 2 or 4
// threads), and the TypeScript walk (sync readdirSync + readlinkSync; the same split over a
// worker thread).
import { readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' } } })
const runs = Number(values.runs)
const require = createRequire(import.meta.url)
const addon = require('../native/build/Release/portwarden_native.node')
const { scanSocketHolders, listPids } = await import('../dist/core/process/read-process.js')
const { startParallelScan } = await import('../dist/core/process/parallel-scan.js')

const records = addon.dumpSockets(0xffffffff, 0xffffffff, 3, -1, -1)
const all = new Uint32Array(records.length / addon.recordSize)
for (let i = 0; i < all.length; i++) all[i] = records.readUInt32LE(i * addon.recordSize + 12)
all.sort()
const inodes = all.subarray(all.lastIndexOf(0) + 1)
const pidList = listPids()
const pids = Uint32Array.from(pidList)
let fds = 0
for (const pid of pidList) {
  try {
    fds += readdirSync(`/proc/${pid}/fd`).length
  } catch {
    // gone or unreadable
  }
}
console.log(
  `${inodes.length} socket inodes, ${pids.length} processes, ${fds} fds; ${runs} runs each`,
)

const scan = (method, threads) => () => addon.scanSocketFds(pids, inodes, '/proc', method, threads)
const firstBpf = performance.now()
const probe = addon.scanSocketFds(pids, inodes, '/proc', 'auto', 1)
console.log(
  probe.method === 'bpf'
    ? `BPF iterator: first call (loads BTF offsets and the program) ${(performance.now() - firstBpf).toFixed(1)} ms`
    : `BPF iterator unavailable: ${probe.bpfRefusal}`,
)
const methods = [
  ...(probe.method === 'bpf' ? [['addon BPF iterator', scan('bpf', 1)]] : []),
  ['addon readlink, 1 thread', scan('readlink', 1)],
  ['addon fstatat, 1 thread', scan('stat', 1)],
  ['addon readlink, 2 threads', scan('readlink', 2)],
  ['addon fstatat, 2 threads', scan('stat', 2)],
  ['addon readlink, 4 threads', scan('readlink', 4)],
  ['TS sync readlinkSync', () => scanSocketHolders(new Set(inodes), { pids: pidList })],
  [
    'TS worker thread + main thread',
    async () => {
      const scan = startParallelScan(pidList, '/proc')
      try {
        return await scan.scan(new Set(inodes))
      } finally {
        scan.dispose()
      }
    },
  ],
]
const times = new Map(methods.map(([name]) => [name, []]))
// Interleaved rounds, so that other load on the machine falls on every method alike.
for (let round = 0; round < runs; round++) {
  for (const [name, run] of methods) {
    const start = performance.now()
    await run()
    times.get(name).push(performance.now() - start)
  }
}
const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]
for (const [name, list] of times)
  console.log(
    `${name.padEnd(32)} median ${median(list).toFixed(1).padStart(7)} ms   min ${Math.min(...list)
      .toFixed(1)
      .padStart(7)} ms`,
  )
