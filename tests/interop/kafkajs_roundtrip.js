// kafkajs (a pure-JavaScript Kafka client) against a Brook broker.
//
// - Admin: describeCluster, createTopics with a topic config (and again: false, it exists),
//   listTopics, fetchTopicMetadata, describeConfigs (value and source), alterConfigs,
//   createPartitions and deleteTopics (on a scratch topic), fetchTopicOffsets,
//   fetchTopicOffsetsByTimestamp, deleteTopicRecords.
// - An idempotent producer (idempotent: true, maxInFlightRequests: 1, acks -1) sends keyed
//   records with headers (a repeated header key among them), null values and explicit
//   timestamps in several sends, every other one GZIP-compressed. The offset of every record
//   follows from the baseOffset of its partition in the send's response.
// - A consumer group of two consumers (kafkajs consumes only through groups): both join
//   (the second one's join rebalances the first) before anything is produced, then each
//   records what it reads and commits after every batch. Every record must arrive exactly
//   once, at its offset, with its key, value, headers and timestamp.
// - Group admin: describeGroups while both run (Stable, 2 members, their assignments),
//   deleteGroups refused while they run, describeGroups once they left (Empty), fetchOffsets
//   equal to the partition ends, setOffsets from the admin, listGroups, deleteGroups, and
//   fetchOffsets after the deletion.
//
// Usage: node kafkajs_roundtrip.js BOOTSTRAP TOPIC
//
// Prints one JSON line on stdout: the summary the Rust test (tests/interop.rs) asserts on.
// Every check that fails is listed in "errors"; the exit code is 1 when there is any.

'use strict'

const {
  Kafka, CompressionTypes, ConfigResourceTypes, AssignerProtocol, Partitioners, logLevel,
} = require('kafkajs')

const PARTITIONS = 3
const SENDS = 6
const PER_SEND = 100
const MESSAGES = SENDS * PER_SEND
const KEYS = 40
// Record timestamps: BASE_TS + 10 * sequence number, an hour in the past.
const BASE_TS = Date.now() - 3600 * 1000
const DEADLINE_MS = 25000
// DescribeConfigs sources (KIP-226).
const DYNAMIC_TOPIC_CONFIG = 1

const [bootstrap, topic] = process.argv.slice(2)
const groupId = `${topic}-group`
const errors = []
const summary = { errors }

function check (ok, what) {
  if (!ok) errors.push(what)
  return ok
}

// kafkajs logs to stdout by default; the summary must be the last line there.
const logCreator = () => ({ namespace, label, log }) => {
  const { message, ...extra } = log
  process.stderr.write(`${label} [${namespace}] ${message} ${JSON.stringify(extra)}\n`)
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function waitFor (what, cond, ms = DEADLINE_MS) {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

function record (i) {
  const headers = { seq: String(i) }
  if (i % 3 === 0) headers.tag = ['a', `b-${i}`] // one key twice
  if (i % 7 === 0) headers.empty = ''
  return {
    key: `k${i % KEYS}`,
    value: i % 25 === 0 ? null : `v-${i}-${'xyz'.repeat(i % 31)}`,
    headers,
    timestamp: String(BASE_TS + 10 * i),
  }
}

// What a consumer should see of record i: strings, header values as arrays of strings.
function expected (i) {
  const r = record(i)
  const headers = {}
  for (const [k, v] of Object.entries(r.headers)) headers[k] = Array.isArray(v) ? v : [v]
  return JSON.stringify({ key: r.key, value: r.value, headers, timestamp: r.timestamp })
}

function seen (message) {
  const headers = {}
  for (const [k, v] of Object.entries(message.headers || {})) {
    headers[k] = (Array.isArray(v) ? v : [v]).map(b => b.toString())
  }
  return JSON.stringify({
    key: message.key === null ? null : message.key.toString(),
    value: message.value === null ? null : message.value.toString(),
    headers,
    timestamp: message.timestamp,
  })
}

async function topicAdmin (admin) {
  const cluster = await admin.describeCluster()
  summary.brokers = cluster.brokers.map(b => `${b.host}:${b.port}`)

  summary.created = await admin.createTopics({
    topics: [{
      topic,
      numPartitions: PARTITIONS,
      replicationFactor: 1,
      configEntries: [{ name: 'retention.ms', value: '7200000' }],
    }],
  })
  summary.created_again = await admin.createTopics({
    topics: [{ topic, numPartitions: PARTITIONS }],
  })
  const topics = await admin.listTopics()
  check(topics.includes(topic), `listTopics: ${topics}`)

  const metadata = await admin.fetchTopicMetadata({ topics: [topic] })
  const partitions = metadata.topics[0].partitions
  summary.metadata_partitions = partitions.map(p => p.partitionId).sort()
  check(partitions.every(p => p.partitionErrorCode === 0 && p.leader === cluster.brokers[0].nodeId),
    `fetchTopicMetadata: ${JSON.stringify(metadata)}`)

  const describe = async () => {
    const { resources } = await admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }],
      includeSynonyms: false,
    })
    check(resources[0].errorCode === 0, `describeConfigs: ${JSON.stringify(resources[0])}`)
    return Object.fromEntries(resources[0].configEntries.map(e => [e.configName, e]))
  }
  let configs = await describe()
  summary.described_configs = Object.keys(configs).length
  const retention = () => {
    const e = configs['retention.ms']
    return [e.configValue, e.configSource]
  }
  summary.retention_created = retention()
  await admin.alterConfigs({
    resources: [{
      type: ConfigResourceTypes.TOPIC,
      name: topic,
      configEntries: [{ name: 'retention.ms', value: '3600000' }],
    }],
  })
  configs = await describe()
  summary.retention_altered = retention()
  check(configs['retention.ms'].configSource === DYNAMIC_TOPIC_CONFIG, 'retention.ms source')

  // A scratch topic: grown, then deleted.
  const scratch = `${topic}-scratch`
  await admin.createTopics({ topics: [{ topic: scratch, numPartitions: 1 }] })
  await admin.createPartitions({ topicPartitions: [{ topic: scratch, count: 2 }] })
  const grown = await admin.fetchTopicMetadata({ topics: [scratch] })
  summary.scratch_partitions = grown.topics[0].partitions.map(p => p.partitionId).sort()
  await admin.deleteTopics({ topics: [scratch] })
  summary.scratch_listed_after_delete = (await admin.listTopics()).includes(scratch)
}

// Sends every record; returns the offset each one was given, by sequence number.
async function produce (kafka) {
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  })
  await producer.connect()
  const where = new Array(MESSAGES)
  summary.send_compression = []
  for (let s = 0; s < SENDS; s++) {
    const seqs = Array.from({ length: PER_SEND }, (_, j) => s * PER_SEND + j)
    const compression = s % 2 === 0 ? CompressionTypes.GZIP : CompressionTypes.None
    summary.send_compression.push(compression === CompressionTypes.GZIP ? 'gzip' : 'none')
    const metadata = await producer.send({
      topic,
      acks: -1,
      compression,
      messages: seqs.map(record),
    })
    // The partitioner is deterministic: partition the keys the same way to find out which
    // records went where, in order, from the partition's base offset.
    const base = Object.fromEntries(metadata.map(m => {
      check(m.errorCode === 0, `send ${s}: ${JSON.stringify(m)}`)
      return [m.partition, BigInt(m.baseOffset)]
    }))
    const next = {}
    for (const i of seqs) {
      const p = partitionOf.get(record(i).key)
      if (p === undefined) continue
      next[p] = (next[p] || 0n)
      where[i] = { partition: p, offset: base[p] + next[p] }
      next[p] += 1n
    }
  }
  await producer.disconnect()
  return where
}

// Key -> partition, as kafkajs's default (murmur2) partitioner picks it.
const partitionOf = new Map()
function learnPartitions () {
  const partitioner = Partitioners.DefaultPartitioner()
  const partitionMetadata = Array.from({ length: PARTITIONS }, (_, p) => ({
    partitionId: p,
    leader: 0,
  }))
  for (let k = 0; k < KEYS; k++) {
    const key = `k${k}`
    partitionOf.set(key, partitioner({ topic, partitionMetadata, message: { key } }))
  }
}

function member (kafka, name, log) {
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 10000,
    rebalanceTimeout: 10000,
    heartbeatInterval: 300,
    maxWaitTimeInMs: 200,
    retry: { retries: 10 },
  })
  const state = { name, consumer, assignment: null, joins: 0, commits: 0 }
  consumer.on(consumer.events.GROUP_JOIN, e => {
    state.joins += 1
    state.assignment = (e.payload.memberAssignment[topic] || []).slice().sort()
  })
  state.start = async () => {
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (batch.messages.length === 0) return
        // A record counts as consumed once its offset is committed; a failed commit means
        // the batch is delivered again.
        const read = batch.messages.map(m => ({
          consumer: name, partition: batch.partition, offset: m.offset, seen: seen(m),
        }))
        const last = batch.messages[batch.messages.length - 1].offset
        await consumer.commitOffsets([
          { topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() },
        ])
        state.commits += 1
        log.push(...read)
      },
    })
  }
  return state
}

async function main () {
  const kafka = new Kafka({
    clientId: 'brook-interop-kafkajs',
    brokers: [bootstrap],
    logLevel: logLevel.WARN,
    logCreator,
  })
  const admin = kafka.admin()
  await admin.connect()
  await topicAdmin(admin)
  learnPartitions()

  // Both consumers join before anything is produced: their assignments then stay put, so
  // nothing is read twice (a rebalance may deliver uncommitted records again).
  const log = []
  const a = member(kafka, 'a', log)
  const b = member(kafka, 'b', log)
  await a.start()
  await waitFor('the first consumer to join', () => a.assignment !== null)
  await b.start()
  await waitFor('both consumers to share the partitions', () => {
    if (!a.assignment || !b.assignment) return false
    const all = [...a.assignment, ...b.assignment].sort()
    return a.assignment.length > 0 && b.assignment.length > 0 &&
      JSON.stringify(all) === JSON.stringify([...Array(PARTITIONS).keys()])
  })
  summary.assignments = { a: a.assignment, b: b.assignment }

  const where = await produce(kafka)
  check(where.every(w => w !== undefined), 'a record was not placed')
  const atOffset = new Map(where.map((w, i) => [`${w.partition}:${w.offset}`, i]))
  const ends = Array(PARTITIONS).fill(0n)
  for (const w of where) if (w.offset + 1n > ends[w.partition]) ends[w.partition] = w.offset + 1n

  await waitFor(`all ${MESSAGES} records`, () => log.length >= MESSAGES)
  await sleep(1000) // anything more would be a duplicate

  // Check what was read against what was sent.
  const got = new Map()
  let duplicates = 0
  let identical = 0
  let misplaced = 0
  let wrongConsumer = 0
  for (const r of log) {
    const key = `${r.partition}:${r.offset}`
    if (got.has(key)) { duplicates += 1; continue }
    got.set(key, r)
    const i = atOffset.get(key)
    if (i === undefined) { misplaced += 1; continue }
    if (r.seen === expected(i)) identical += 1
    else if (errors.length < 10) {
      errors.push(`record ${i} at ${key}: read ${r.seen}, sent ${expected(i)}`)
    }
    const owner = r.consumer === 'a' ? a.assignment : b.assignment
    if (!owner.includes(r.partition)) wrongConsumer += 1
  }
  Object.assign(summary, {
    produced: where.length,
    consumed: log.length,
    distinct: got.size,
    identical,
    duplicates,
    misplaced,
    wrong_consumer: wrongConsumer,
    consumed_by: {
      a: log.filter(r => r.consumer === 'a').length,
      b: log.filter(r => r.consumer === 'b').length,
    },
    ends: ends.map(String),
    keys: new Set(where.map((_, i) => record(i).key)).size,
  })

  // The group while both members run.
  const running = (await admin.describeGroups([groupId])).groups[0]
  summary.running_group = {
    state: running.state,
    protocol: running.protocol,
    members: running.members.length,
    assignments: running.members.map(m => {
      const decoded = AssignerProtocol.MemberAssignment.decode(m.memberAssignment)
      return (decoded.assignment[topic] || []).slice().sort()
    }).sort(),
  }
  try {
    await admin.deleteGroups([groupId])
    summary.delete_running = 0
  } catch (e) {
    summary.delete_running = e.groups ? e.groups.map(g => g.errorCode) : String(e)
  }

  await a.consumer.disconnect()
  await b.consumer.disconnect()
  summary.joins = { a: a.joins, b: b.joins }
  summary.commits = a.commits + b.commits

  const empty = (await admin.describeGroups([groupId])).groups[0]
  summary.empty_group = { state: empty.state, members: empty.members.length }
  const offsets = async () => {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] })
    return t.partitions.slice().sort((x, y) => x.partition - y.partition).map(p => p.offset)
  }
  summary.committed = await offsets()
  summary.topic_offsets = (await admin.fetchTopicOffsets(topic))
    .sort((x, y) => x.partition - y.partition).map(p => [p.low, p.high])

  // Per partition, the first offset at or after the timestamp of record 300.
  const ts = BASE_TS + 10 * 300
  const byTime = await admin.fetchTopicOffsetsByTimestamp(topic, ts)
  const wantByTime = Array(PARTITIONS).fill(null)
  where.forEach((w, i) => {
    const best = wantByTime[w.partition]
    if (BASE_TS + 10 * i >= ts && (best === null || w.offset < best)) {
      wantByTime[w.partition] = w.offset
    }
  })
  summary.offsets_by_time = byTime.sort((x, y) => x.partition - y.partition).map(p => p.offset)
  summary.expected_by_time = wantByTime.map((o, p) => String(o === null ? ends[p] : o))

  await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '5' }] })
  summary.after_set_offsets = await offsets()

  summary.listed = (await admin.listGroups()).groups.map(g => [g.groupId, g.protocolType])
    .filter(([g]) => g === groupId)
  const deleted = await admin.deleteGroups([groupId])
  summary.deleted = deleted.map(d => [d.groupId, d.errorCode])
  summary.listed_after_delete = (await admin.listGroups()).groups
    .filter(g => g.groupId === groupId).length
  summary.committed_after_delete = await offsets()

  // DeleteRecords: partition 0 now starts at 10.
  await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '10' }] })
  summary.after_delete_records = (await admin.fetchTopicOffsets(topic))
    .sort((x, y) => x.partition - y.partition).map(p => [p.low, p.high])

  await admin.disconnect()
}

const watchdog = setTimeout(() => {
  errors.push('the script did not finish in time')
  console.log(JSON.stringify(summary))
  process.exit(1)
}, 35000)

main()
  .catch(e => errors.push(`${e.name}: ${e.message}`))
  .finally(() => {
    clearTimeout(watchdog)
    console.log(JSON.stringify(summary))
    process.exit(errors.length ? 1 : 0)
  })
