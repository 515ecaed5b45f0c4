export type {
  Evidence,
  EvidenceContext,
  HolderRef,
  RegistrySign,
  WorktreeSign,
} from './evidence.js'
export { gatherEvidence } from './evidence.js'
export type { Judgement, Reason, Verdict } from './verdict.js'
export { describeJudgement, formatAge, judge, SIGNS } from './verdict.js'
