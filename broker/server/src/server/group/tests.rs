use std::sync::Arc;
use std::time::Duration;

use brook_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use brook_protocol::messages::leave_group_request::MemberIdentity;
use brook_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use brook_protocol::messages::{
    HeartbeatRequest, JoinGroupRequest, JoinGroupResponse, SyncGroupRequest,
};
use bytes::Bytes;

use super::*;
use crate::server::Topics;

/// A one-node broker (its own controller quorum) whose coordinator is tested; the
/// broker is kept alive by the tests that hold its topics.
fn broker(dir: &std::path::Path, config: GroupConfig) -> Arc<crate::server::Broker> {
    let broker_config = crate::server::BrokerConfig {
        groups: config,
        ..crate::server::BrokerConfig::default()
    };
    Arc::new(crate::server::Broker::open(dir, broker_config, ("localhost".into(), 9092)).unwrap())
}

fn open(dir: &std::path::Path, config: GroupConfig) -> (Arc<GroupCoordinator>, Arc<Topics>) {
    let b = broker(dir, config);
    b.topics.create("t", 4, -1, &[], 1, false).unwrap();
    // As FindCoordinator does: this one node leads every partition of it.
    b.groups.offsets_topic().unwrap();
    let topics = b.topics.clone();
    let groups = b.groups.clone();
    KEEP.lock().unwrap().push(b);
    (groups, topics)
}

fn reopen(dir: &std::path::Path, config: GroupConfig) -> Arc<GroupCoordinator> {
    // The first broker of this directory stops (closing its logs) before the next opens.
    let mut kept = KEEP.lock().unwrap();
    if let Some(i) = kept.iter().position(|b| b.logs.data_dir() == dir) {
        let old = kept.remove(i);
        let _ = old.close();
    }
    drop(kept);
    let b = broker(dir, config);
    let groups = b.groups.clone();
    KEEP.lock().unwrap().push(b);
    groups
}

static KEEP: std::sync::Mutex<Vec<Arc<crate::server::Broker>>> = std::sync::Mutex::new(Vec::new());

fn no_delay() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay: Duration::ZERO,
        offsets_partitions: 3,
        ..GroupConfig::default()
    }
}

fn client() -> Client {
    Client {
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
    }
}

fn join_req(member: &str, instance: Option<&str>, meta: &[u8]) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: "g".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        member_id: member.into(),
        group_instance_id: instance.map(String::from),
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            metadata: Bytes::copy_from_slice(meta),
        }],
        reason: None,
    }
}

fn now_or_wait(r: Reply<JoinGroupResponse>) -> JoinGroupResponse {
    match r {
        Reply::Now(r) => r,
        Reply::Wait(rx) => rx.blocking_recv().unwrap(),
    }
}

/// A new member's id: the MEMBER_ID_REQUIRED round of JoinGroup v4+.
fn member_id(c: &GroupCoordinator) -> String {
    let Reply::Now(r) = c.join(join_req("", None, b""), 5, client()) else {
        panic!("a new member is answered at once");
    };
    assert_eq!(r.error_code, ErrorCode::MemberIdRequired.code());
    assert!(r.member_id.starts_with("c-"));
    r.member_id
}

fn sync(
    c: &GroupCoordinator,
    member: &str,
    generation: i32,
    assign: &[(&str, &[u8])],
) -> Reply<SyncGroupResponse> {
    c.sync(SyncGroupRequest {
        group_id: "g".into(),
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: None,
        protocol_type: None,
        protocol_name: None,
        assignments: assign
            .iter()
            .map(|(m, a)| SyncGroupRequestAssignment {
                member_id: m.to_string(),
                assignment: Bytes::copy_from_slice(a),
            })
            .collect(),
    })
}

fn heartbeat(
    c: &GroupCoordinator,
    member: &str,
    generation: i32,
    instance: Option<&str>,
) -> ErrorCode {
    c.heartbeat(&HeartbeatRequest {
        group_id: "g".into(),
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: instance.map(String::from),
    })
}

fn state(c: &GroupCoordinator) -> String {
    c.describe("g", false).group_state
}

/// Two members form generation 1: one leader, assignments handed out, offsets committed.
fn two_member_group(c: &GroupCoordinator) -> (String, String, i32) {
    let a = member_id(c);
    let b = member_id(c);
    let Reply::Wait(wa) = c.join(join_req(&a, None, b"meta-a"), 5, client()) else {
        panic!("the first member waits for the second (it holds a pending id)");
    };
    let rb = now_or_wait(c.join(join_req(&b, None, b"meta-b"), 5, client()));
    let ra = wa.blocking_recv().unwrap();
    assert_eq!((ra.error_code, rb.error_code), (0, 0));
    assert_eq!(ra.generation_id, 1);
    assert_eq!(ra.leader, rb.leader);
    assert_eq!(ra.protocol_name.as_deref(), Some("range"));
    let (leader, follower, lr) = if ra.leader == a {
        (a, b, ra)
    } else {
        (b, a, rb)
    };
    assert_eq!(lr.members.len(), 2, "the leader sees every member");
    let Reply::Wait(wf) = sync(c, &follower, 1, &[]) else {
        panic!("a follower waits for the leader's assignment");
    };
    assert_eq!(state(c), "CompletingRebalance");
    let Reply::Wait(wl) = sync(c, &leader, 1, &[(&leader, b"L"), (&follower, b"F")]) else {
        panic!("the leader's answer comes through the same path");
    };
    assert_eq!(wl.blocking_recv().unwrap().assignment.as_ref(), b"L");
    assert_eq!(wf.blocking_recv().unwrap().assignment.as_ref(), b"F");
    assert_eq!(state(c), "Stable");
    (leader, follower, 1)
}

#[test]
fn hash_matches_java() {
    assert_eq!(java_string_hash(""), 0);
    assert_eq!(java_string_hash("a"), 97);
    assert_eq!(java_string_hash("hello"), 99162322);
    // "polygenelubricants".hashCode() == Integer.MIN_VALUE in Java.
    assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
    assert_eq!(partition_for("polygenelubricants", 50), 0);
    assert_eq!(partition_for("hello", 50), 99162322 % 50);
}

#[test]
fn join_sync_heartbeat_and_a_rebalance_when_a_member_joins() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = open(dir.path(), no_delay());
    let (leader, follower, generation) = two_member_group(&c);
    assert_eq!(heartbeat(&c, &leader, generation, None), ErrorCode::None);
    assert_eq!(
        heartbeat(&c, &follower, 7, None),
        ErrorCode::IllegalGeneration
    );
    assert_eq!(
        heartbeat(&c, "nobody", generation, None),
        ErrorCode::UnknownMemberId
    );

    // A third member: the others learn of the rebalance from their heartbeats.
    let third = member_id(&c);
    let Reply::Wait(w3) = c.join(join_req(&third, None, b"meta-c"), 5, client()) else {
        panic!("waits for the others to rejoin");
    };
    assert_eq!(state(&c), "PreparingRebalance");
    assert_eq!(
        heartbeat(&c, &follower, generation, None),
        ErrorCode::RebalanceInProgress
    );
    let Reply::Wait(wl) = c.join(join_req(&leader, None, b"meta-a"), 5, client()) else {
        panic!("the follower has not rejoined yet");
    };
    let rf = now_or_wait(c.join(join_req(&follower, None, b"meta-b"), 5, client()));
    let (rl, r3) = (wl.blocking_recv().unwrap(), w3.blocking_recv().unwrap());
    for r in [&rl, &rf, &r3] {
        assert_eq!(r.generation_id, 2);
        assert_eq!(r.leader, leader, "the leader stays the leader");
    }
    assert_eq!(rl.members.len(), 3);
    assert!(rf.members.is_empty());
    // A SyncGroup of the old generation is refused.
    assert!(matches!(
        sync(&c, &follower, 1, &[]),
        Reply::Now(r) if r.error_code == ErrorCode::IllegalGeneration.code()
    ));
}

#[test]
fn leaving_rebalances_and_the_last_member_leaving_empties_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = open(dir.path(), no_delay());
    let (leader, follower, _) = two_member_group(&c);
    let out = c
        .leave(
            "g",
            &[MemberIdentity {
                member_id: follower.clone(),
                group_instance_id: None,
                reason: None,
            }],
        )
        .unwrap();
    assert_eq!(out[0].error_code, 0);
    assert_eq!(state(&c), "PreparingRebalance");
    let r = now_or_wait(c.join(join_req(&leader, None, b"meta-a"), 5, client()));
    assert_eq!(r.generation_id, 2);
    assert_eq!(r.members.len(), 1);
    let out = c
        .leave(
            "g",
            &[MemberIdentity {
                member_id: leader.clone(),
                group_instance_id: None,
                reason: None,
            }],
        )
        .unwrap();
    assert_eq!(out[0].error_code, 0);
    assert_eq!(state(&c), "Empty");
    let again = c
        .leave(
            "g",
            &[MemberIdentity {
                member_id: leader,
                group_instance_id: None,
                reason: None,
            }],
        )
        .unwrap();
    assert_eq!(again[0].error_code, ErrorCode::UnknownMemberId.code());
}

#[test]
fn an_expired_session_removes_the_member() {
    let dir = tempfile::tempdir().unwrap();
    let config = GroupConfig {
        min_session_timeout: Duration::from_millis(1),
        ..no_delay()
    };
    let (c, _) = open(dir.path(), config);
    let mut req = join_req("", None, b"m");
    req.session_timeout_ms = 200;
    let r = now_or_wait(c.join(req.clone(), 3, client()));
    assert_eq!((r.error_code, r.generation_id), (0, 1));
    assert!(matches!(
        sync(&c, &r.member_id, 1, &[(&r.member_id, b"a")]),
        Reply::Wait(_)
    ));
    assert_eq!(state(&c), "Stable");
    // The timer thread expires it; nobody heartbeats.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while state(&c) != "Empty" {
        assert!(std::time::Instant::now() < deadline, "still {}", state(&c));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        heartbeat(&c, &r.member_id, 1, None),
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn session_timeouts_outside_the_bounds_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = open(dir.path(), no_delay());
    let mut req = join_req("", None, b"m");
    req.session_timeout_ms = 10;
    let r = now_or_wait(c.join(req, 5, client()));
    assert_eq!(r.error_code, ErrorCode::InvalidSessionTimeout.code());
    let mut req = join_req("", None, b"m");
    req.protocol_type = String::new();
    let r = now_or_wait(c.join(req, 5, client()));
    assert_eq!(r.error_code, ErrorCode::InconsistentGroupProtocol.code());
    let r = now_or_wait(c.join(join_req("stale-id", None, b"m"), 5, client()));
    assert_eq!(r.error_code, ErrorCode::UnknownMemberId.code());
    assert!(
        c.list(&[]).1.is_empty(),
        "refused joins leave no group behind"
    );
    // A group id an int16-length record cannot hold is refused, not stored cut short.
    let long = "g".repeat(records::MAX_STRING + 1);
    let p = CommitPartition {
        topic: "t".into(),
        partition: 0,
        offset: 1,
        leader_epoch: -1,
        metadata: None,
        commit_timestamp: -1,
    };
    assert_eq!(
        c.commit(&long, -1, "", None, -1, vec![p]),
        vec![ErrorCode::InvalidGroupId]
    );
    let mut req = join_req("", None, b"m");
    req.group_id = long;
    let r = now_or_wait(c.join(req, 5, client()));
    assert_eq!(r.error_code, ErrorCode::InvalidGroupId.code());
}

#[test]
fn a_group_left_empty_without_offsets_goes_at_the_retention_check() {
    let dir = tempfile::tempdir().unwrap();
    let config = GroupConfig {
        offsets_retention_check: Duration::from_millis(50),
        ..no_delay()
    };
    let (c, topics) = open(dir.path(), config.clone());
    let r = now_or_wait(c.join(join_req("", None, b"m"), 3, client()));
    let left = c
        .leave(
            "g",
            &[MemberIdentity {
                member_id: r.member_id,
                group_instance_id: None,
                reason: None,
            }],
        )
        .unwrap();
    assert_eq!(left[0].error_code, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !c.list(&[]).1.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the empty group stayed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    c.stop();
    drop(c);
    drop(topics);
    assert!(
        reopen(dir.path(), config).list(&[]).1.is_empty(),
        "and stays gone after a restart"
    );
}

#[test]
fn a_static_member_rejoining_fences_its_old_id_without_a_rebalance() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = open(dir.path(), no_delay());
    // A static member skips MEMBER_ID_REQUIRED; alone, its join completes at once.
    let ra = now_or_wait(c.join(join_req("", Some("i-a"), b"a"), 5, client()));
    assert_eq!((ra.error_code, ra.generation_id), (0, 1));
    let a = ra.member_id.clone();
    assert_eq!(ra.leader, a);
    assert!(matches!(sync(&c, &a, 1, &[(&a, b"A")]), Reply::Wait(_)));
    // A second static member: A learns of the rebalance and rejoins.
    let Reply::Wait(wb) = c.join(join_req("", Some("i-b"), b"b"), 5, client()) else {
        panic!("B waits for A");
    };
    assert_eq!(
        heartbeat(&c, &a, 1, Some("i-a")),
        ErrorCode::RebalanceInProgress
    );
    let ra = now_or_wait(c.join(join_req(&a, Some("i-a"), b"a"), 5, client()));
    let rb = wb.blocking_recv().unwrap();
    assert_eq!((ra.generation_id, rb.generation_id), (2, 2));
    assert_eq!(ra.leader, a);
    let mut instances: Vec<Option<String>> = ra
        .members
        .iter()
        .map(|m| m.group_instance_id.clone())
        .collect();
    instances.sort();
    assert_eq!(instances, vec![Some("i-a".into()), Some("i-b".into())]);
    let b = rb.member_id.clone();
    let Reply::Wait(wfb) = sync(&c, &b, 2, &[]) else {
        panic!("B waits for the leader");
    };
    let _ = sync(&c, &a, 2, &[(&a, b"A"), (&b, b"B")]);
    assert_eq!(wfb.blocking_recv().unwrap().assignment.as_ref(), b"B");

    // B restarts: same instance id, no member id. It gets a new id and no rebalance.
    let r = now_or_wait(c.join(join_req("", Some("i-b"), b"b"), 5, client()));
    assert_eq!(r.error_code, 0);
    assert_eq!(r.generation_id, 2, "no rebalance");
    assert_ne!(r.member_id, b);
    assert_eq!(state(&c), "Stable");
    assert_eq!(
        heartbeat(&c, &b, 2, Some("i-b")),
        ErrorCode::FencedInstanceId
    );
    assert_eq!(heartbeat(&c, &r.member_id, 2, Some("i-b")), ErrorCode::None);
    match sync(&c, &r.member_id, 2, &[]) {
        Reply::Now(s) => assert_eq!(s.assignment.as_ref(), b"B", "its assignment is kept"),
        Reply::Wait(_) => panic!("a Stable group answers at once"),
    }
    // The replacement was written: after a restart the new id is the member.
    c.stop();
    drop(c);
    let c = reopen(dir.path(), no_delay());
    assert_eq!(heartbeat(&c, &r.member_id, 2, Some("i-b")), ErrorCode::None);
    assert_eq!(
        heartbeat(&c, &b, 2, Some("i-b")),
        ErrorCode::FencedInstanceId
    );
}

fn commit(
    c: &GroupCoordinator,
    member: &str,
    generation: i32,
    offsets: &[(i32, i64)],
) -> Vec<ErrorCode> {
    c.commit(
        "g",
        generation,
        member,
        None,
        -1,
        offsets
            .iter()
            .map(|(p, o)| CommitPartition {
                topic: "t".into(),
                partition: *p,
                offset: *o,
                leader_epoch: -1,
                metadata: Some(format!("m{o}")),
                commit_timestamp: -1,
            })
            .collect(),
    )
}

#[test]
fn commits_survive_a_restart_and_the_group_resumes_stable() {
    let dir = tempfile::tempdir().unwrap();
    let (c, topics) = open(dir.path(), no_delay());
    let (leader, follower, generation) = two_member_group(&c);
    assert_eq!(
        commit(&c, &leader, generation, &[(0, 10), (1, 20)]),
        vec![ErrorCode::None; 2]
    );
    assert_eq!(
        commit(&c, &follower, generation, &[(2, 30)]),
        vec![ErrorCode::None]
    );
    assert_eq!(
        commit(&c, &leader, generation, &[(0, 11)]),
        vec![ErrorCode::None]
    );
    assert_eq!(
        commit(&c, &leader, generation + 1, &[(0, 99)]),
        vec![ErrorCode::IllegalGeneration]
    );
    assert_eq!(
        commit(&c, "", -1, &[(0, 99)]),
        vec![ErrorCode::UnknownMemberId],
        "outside commits need an empty group"
    );
    assert_eq!(
        commit(&c, &leader, generation, &[(9, 1)]),
        vec![ErrorCode::UnknownTopicOrPartition]
    );
    let fetched = c.fetch_offsets("g", None).unwrap();
    assert_eq!(fetched.len(), 1);
    let offsets: Vec<i64> = fetched[0].1.iter().map(|f| f.offset).collect();
    assert_eq!(offsets, vec![11, 20, 30]);
    c.stop();
    drop(c);
    drop(topics);

    let c = reopen(dir.path(), no_delay());
    let fetched = c
        .fetch_offsets("g", Some(vec![("t".into(), vec![0, 1, 2, 3])]))
        .unwrap();
    let got: Vec<(i64, String)> = fetched[0]
        .1
        .iter()
        .map(|f| (f.offset, f.metadata.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (11, "m11".into()),
            (20, "m20".into()),
            (30, "m30".into()),
            (-1, String::new())
        ]
    );
    // The group came back Stable with its members and their assignments.
    assert_eq!(state(&c), "Stable");
    assert_eq!(heartbeat(&c, &follower, generation, None), ErrorCode::None);
    match sync(&c, &follower, generation, &[]) {
        Reply::Now(s) => assert_eq!(s.assignment.as_ref(), b"F"),
        Reply::Wait(_) => panic!("Stable answers at once"),
    }
}

#[test]
fn outside_commits_delete_groups_and_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let (c, topics) = open(dir.path(), no_delay());
    // assign() consumers commit with generation -1 and no member id.
    assert_eq!(
        commit(&c, "", -1, &[(0, 5), (1, 6)]),
        vec![ErrorCode::None; 2]
    );
    assert_eq!(state(&c), "Empty");
    let listed = c.list(&[]).1;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].protocol_type, "");
    let (outer, codes) = c.delete_offsets("g", &[("t".into(), 0)]);
    assert_eq!((outer, codes), (ErrorCode::None, vec![ErrorCode::None]));
    let left = c.fetch_offsets("g", None).unwrap();
    assert_eq!(
        left[0].1.iter().map(|f| f.partition).collect::<Vec<_>>(),
        vec![1]
    );
    assert_eq!(c.delete_group("nope"), ErrorCode::GroupIdNotFound);
    assert_eq!(c.delete_group("g"), ErrorCode::None);
    assert!(c.list(&[]).1.is_empty());
    c.stop();
    drop(c);
    drop(topics);
    let c = reopen(dir.path(), no_delay());
    assert!(c.list(&[]).1.is_empty(), "the deletion was persisted");
    assert_eq!(c.describe("g", false).group_state, "Dead");
}

#[test]
fn a_member_group_refuses_deletion_and_offset_deletion_of_subscribed_topics() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _) = open(dir.path(), no_delay());
    // A consumer-protocol subscription to topic "t".
    let mut sub = 0i16.to_be_bytes().to_vec();
    sub.extend_from_slice(&1i32.to_be_bytes());
    sub.extend_from_slice(&1i16.to_be_bytes());
    sub.push(b't');
    sub.extend_from_slice(&(-1i32).to_be_bytes());
    let r = now_or_wait(c.join(join_req("", None, &sub), 3, client()));
    let _ = sync(&c, &r.member_id, r.generation_id, &[(&r.member_id, b"x")]);
    assert_eq!(
        commit(&c, &r.member_id, r.generation_id, &[(0, 1)]),
        vec![ErrorCode::None]
    );
    assert_eq!(c.delete_group("g"), ErrorCode::NonEmptyGroup);
    let (outer, codes) = c.delete_offsets("g", &[("t".into(), 0)]);
    assert_eq!(outer, ErrorCode::None);
    assert_eq!(codes, vec![ErrorCode::GroupSubscribedToTopic]);
    let d = c.describe("g", true);
    assert_eq!(d.members.len(), 1);
    assert_eq!(d.members[0].member_assignment.as_ref(), b"x");
    assert_eq!(d.members[0].member_metadata.as_ref(), &sub[..]);
    assert_eq!(d.protocol_data, "range");
    assert_ne!(d.authorized_operations, i32::MIN);
}

#[test]
fn offsets_of_a_long_empty_group_expire() {
    let dir = tempfile::tempdir().unwrap();
    let config = GroupConfig {
        offsets_retention: Duration::from_millis(50),
        offsets_retention_check: Duration::from_millis(20),
        ..no_delay()
    };
    let (c, topics) = open(dir.path(), config.clone());
    assert_eq!(commit(&c, "", -1, &[(0, 5)]), vec![ErrorCode::None]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !c.list(&[]).1.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "offsets never expired"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    c.stop();
    drop(c);
    drop(topics);
    let c = reopen(
        dir.path(),
        GroupConfig {
            offsets_retention: Duration::from_secs(3600),
            ..config
        },
    );
    assert!(
        c.list(&[]).1.is_empty(),
        "the expiry was written as tombstones"
    );
}

#[test]
fn the_initial_rebalance_delay_gathers_members_into_one_generation() {
    let dir = tempfile::tempdir().unwrap();
    let config = GroupConfig {
        initial_rebalance_delay: Duration::from_millis(300),
        ..no_delay()
    };
    let (c, _) = open(dir.path(), config);
    let Reply::Wait(wa) = c.join(join_req("", None, b"a"), 3, client()) else {
        panic!("the first member waits out the delay");
    };
    let Reply::Wait(wb) = c.join(join_req("", None, b"b"), 3, client()) else {
        panic!("so does the second");
    };
    let (ra, rb) = (wa.blocking_recv().unwrap(), wb.blocking_recv().unwrap());
    assert_eq!((ra.generation_id, rb.generation_id), (1, 1));
    let leader = if ra.leader == ra.member_id { &ra } else { &rb };
    assert_eq!(leader.members.len(), 2);
}

mod model {
    //! Random sequences of group operations from a few clients, with restarts in between:
    //! nothing panics, generations only grow, and committed offsets always read back as
    //! the last commit the coordinator accepted (the model is a `BTreeMap`).

    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use tokio::sync::oneshot::error::TryRecvError;

    #[derive(Debug, Clone)]
    enum Op {
        Join(usize),
        Sync(usize),
        Heartbeat(usize),
        Leave(usize),
        Commit(usize, i32, i64),
        OutsideCommit(i32, i64),
        Restart,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..3usize).prop_map(Op::Join),
            3 => (0..3usize).prop_map(Op::Sync),
            2 => (0..3usize).prop_map(Op::Heartbeat),
            1 => (0..3usize).prop_map(Op::Leave),
            3 => (0..3usize, 0..4i32, 0..1000i64).prop_map(|(c, p, o)| Op::Commit(c, p, o)),
            1 => (0..4i32, 0..1000i64).prop_map(|(p, o)| Op::OutsideCommit(p, o)),
            1 => Just(Op::Restart),
        ]
    }

    #[derive(Default)]
    struct ClientState {
        member: String,
        generation: i32,
        join: Option<oneshot::Receiver<JoinGroupResponse>>,
        sync: Option<oneshot::Receiver<SyncGroupResponse>>,
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn commits_read_back_and_generations_grow(ops in proptest::collection::vec(op(), 1..40)) {
            let dir = tempfile::tempdir().unwrap();
            let (mut c, _) = open(dir.path(), no_delay());
            let mut clients: Vec<ClientState> = (0..3).map(|_| ClientState::default()).collect();
            let mut model: BTreeMap<i32, i64> = BTreeMap::new();
            let mut last_generation = 0;
            for op in ops {
                match op {
                    Op::Join(i) => {
                        let cl = &mut clients[i];
                        if cl.join.is_some() {
                            continue;
                        }
                        match c.join(join_req(&cl.member, None, b"m"), 3, client()) {
                            Reply::Now(r) => {
                                if r.error_code == 0 {
                                    cl.member = r.member_id;
                                    cl.generation = r.generation_id;
                                } else if r.error_code == ErrorCode::UnknownMemberId.code() {
                                    cl.member.clear();
                                }
                            }
                            Reply::Wait(rx) => cl.join = Some(rx),
                        }
                    }
                    Op::Sync(i) => {
                        let cl = &mut clients[i];
                        if cl.member.is_empty() || cl.sync.is_some() {
                            continue;
                        }
                        let everyone: Vec<(String, Vec<u8>)> = c
                            .describe("g", false)
                            .members
                            .iter()
                            .map(|m| (m.member_id.clone(), m.member_id.as_bytes().to_vec()))
                            .collect();
                        let assign: Vec<(&str, &[u8])> =
                            everyone.iter().map(|(m, a)| (m.as_str(), a.as_slice())).collect();
                        match sync(&c, &cl.member, cl.generation, &assign) {
                            Reply::Now(_) => {}
                            Reply::Wait(rx) => cl.sync = Some(rx),
                        }
                    }
                    Op::Heartbeat(i) => {
                        let cl = &clients[i];
                        let _ = heartbeat(&c, &cl.member, cl.generation, None);
                    }
                    Op::Leave(i) => {
                        let cl = &mut clients[i];
                        let _ = c.leave("g", &[MemberIdentity {
                            member_id: cl.member.clone(),
                            group_instance_id: None,
                            reason: None,
                        }]);
                        cl.member.clear();
                    }
                    Op::Commit(i, p, o) => {
                        let cl = &clients[i];
                        if commit(&c, &cl.member, cl.generation, &[(p, o)]) == vec![ErrorCode::None] {
                            model.insert(p, o);
                        }
                    }
                    Op::OutsideCommit(p, o) => {
                        if commit(&c, "", -1, &[(p, o)]) == vec![ErrorCode::None] {
                            model.insert(p, o);
                        }
                    }
                    Op::Restart => {
                        c.stop();
                        for cl in &mut clients {
                            // The stop answered every waiter.
                            if let Some(mut rx) = cl.join.take() {
                                prop_assert!(!matches!(rx.try_recv(), Err(TryRecvError::Empty)));
                            }
                            if let Some(mut rx) = cl.sync.take() {
                                prop_assert!(!matches!(rx.try_recv(), Err(TryRecvError::Empty)));
                            }
                        }
                        drop(c);
                        c = reopen(dir.path(), no_delay());
                    }
                }
                for cl in &mut clients {
                    if let Some(rx) = &mut cl.join {
                        match rx.try_recv() {
                            Ok(r) => {
                                if r.error_code == 0 {
                                    cl.member = r.member_id;
                                    cl.generation = r.generation_id;
                                }
                                cl.join = None;
                            }
                            Err(TryRecvError::Empty) => {}
                            Err(TryRecvError::Closed) => cl.join = None,
                        }
                    }
                    if let Some(rx) = &mut cl.sync {
                        if !matches!(rx.try_recv(), Err(TryRecvError::Empty)) {
                            cl.sync = None;
                        }
                    }
                }
                let gen = clients.iter().map(|c| c.generation).max().unwrap_or(0);
                prop_assert!(gen >= last_generation, "generations only grow");
                last_generation = gen;
                let fetched = c.fetch_offsets("g", Some(vec![("t".into(), vec![0, 1, 2, 3])])).unwrap();
                let got: BTreeMap<i32, i64> = fetched[0]
                    .1
                    .iter()
                    .filter(|f| f.offset >= 0)
                    .map(|f| (f.partition, f.offset))
                    .collect();
                prop_assert_eq!(&got, &model);
            }
            c.stop();
        }
    }
}

#[test]
fn an_explicit_retention_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = GroupConfig {
        offsets_retention: Duration::from_secs(3600),
        offsets_retention_check: Duration::from_millis(20),
        ..no_delay()
    };
    let (c, topics) = open(dir.path(), config.clone());
    let part = CommitPartition {
        topic: "t".into(),
        partition: 0,
        offset: 5,
        leader_epoch: -1,
        metadata: None,
        commit_timestamp: -1,
    };
    // OffsetCommit v2-v4 may ask for its own retention: here 400 ms instead of an hour.
    assert_eq!(
        c.commit("g", -1, "", None, 400, vec![part]),
        vec![ErrorCode::None]
    );
    c.stop();
    drop(c);
    drop(topics);
    let c = reopen(dir.path(), config);
    assert_eq!(c.fetch_offsets("g", None).unwrap()[0].1[0].offset, 5);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !c.list(&[]).1.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the explicit expiry was lost"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- Leadership of `__consumer_offsets` ------------------------------------------------

/// A one-node broker with topic `t` and `__consumer_offsets` (3 partitions), kept alive.
fn open_broker(dir: &std::path::Path, config: GroupConfig) -> Arc<crate::server::Broker> {
    let b = broker(dir, config);
    b.topics.create("t", 4, -1, &[], 1, false).unwrap();
    b.groups.offsets_topic().unwrap();
    KEEP.lock().unwrap().push(b.clone());
    b
}

/// [`open_broker`], whose coordinator's leadership only the test changes: a reconcile
/// still on its way from creating the topics would otherwise undo a simulated change.
fn open_simulated(dir: &std::path::Path, config: GroupConfig) -> Arc<crate::server::Broker> {
    let b = open_broker(dir, config);
    b.groups.ignore_reports();
    b
}

/// The given partitions of `__consumer_offsets`, as the replica manager reports them.
fn offsets_partitions(partitions: &[i32]) -> std::collections::HashSet<TopicPartition> {
    partitions
        .iter()
        .map(|p| TopicPartition::new(OFFSETS_TOPIC, *p))
        .collect()
}

/// Every partition of the test's `__consumer_offsets` but `but`.
fn all_but(but: Option<i32>) -> std::collections::HashSet<TopicPartition> {
    let ps: Vec<i32> = (0..3).filter(|p| Some(*p) != but).collect();
    offsets_partitions(&ps)
}

fn offsets_log_end(b: &crate::server::Broker, group: &str) -> i64 {
    let tp = TopicPartition::new(OFFSETS_TOPIC, partition_for(group, 3));
    b.replicas.replica(&tp).unwrap().log.log_end_offset()
}

fn part(partition: i32, offset: i64) -> CommitPartition {
    CommitPartition {
        topic: "t".into(),
        partition,
        offset,
        leader_epoch: -1,
        metadata: None,
        commit_timestamp: -1,
    }
}

fn listed_ids(c: &GroupCoordinator) -> Vec<String> {
    c.list(&[]).1.into_iter().map(|g| g.group_id).collect()
}

#[test]
fn losing_leadership_answers_not_coordinator_and_drops_the_groups() {
    let dir = tempfile::tempdir().unwrap();
    let b = open_simulated(dir.path(), no_delay());
    let c = b.groups.clone();
    let pg = partition_for("g", 3);
    assert_ne!(partition_for("h", 3), pg, "h lives on another partition");
    let (leader, follower, generation) = two_member_group(&c);
    assert_eq!(
        commit(&c, &leader, generation, &[(0, 10)]),
        vec![ErrorCode::None]
    );
    assert_eq!(
        c.commit("h", -1, "", None, -1, vec![part(0, 7)]),
        vec![ErrorCode::None]
    );
    // A third member waits in JoinGroup for the others to rejoin.
    let third = member_id(&c);
    let Reply::Wait(waiting) = c.join(join_req(&third, None, b"meta-c"), 5, client()) else {
        panic!("the third member waits for the rebalance");
    };

    assert!(
        !c.leadership_changed(&all_but(Some(pg))),
        "nothing new to load"
    );
    assert_eq!(
        waiting.blocking_recv().unwrap().error_code,
        ErrorCode::NotCoordinator.code(),
        "the waiting member is sent to find the coordinator again"
    );
    assert!(c.led_partitions().iter().all(|(p, _)| *p != pg));
    assert_eq!(listed_ids(&c), vec!["h".to_string()], "g was dropped");

    let before = offsets_log_end(&b, "g");
    let not = ErrorCode::NotCoordinator;
    assert_eq!(heartbeat(&c, &follower, generation, None), not);
    let r = now_or_wait(c.join(join_req(&leader, None, b"meta-a"), 5, client()));
    assert_eq!(r.error_code, not.code());
    let r = now_or_wait(c.join(join_req("", None, b"new"), 5, client()));
    assert_eq!(r.error_code, not.code(), "no group is created either");
    assert!(matches!(
        sync(&c, &leader, generation, &[]),
        Reply::Now(r) if r.error_code == not.code()
    ));
    let identity = MemberIdentity {
        member_id: follower.clone(),
        group_instance_id: None,
        reason: None,
    };
    assert_eq!(c.leave("g", &[identity]).unwrap_err(), not);
    assert_eq!(commit(&c, &leader, generation, &[(0, 99)]), vec![not]);
    assert_eq!(commit(&c, "", -1, &[(0, 99)]), vec![not]);
    assert_eq!(c.fetch_offsets("g", None), Err(not));
    let d = c.describe("g", false);
    assert_eq!((d.error_code, d.group_state.as_str()), (not.code(), ""));
    assert_eq!(c.delete_group("g"), not);
    assert_eq!(c.delete_offsets("g", &[("t".into(), 0)]), (not, Vec::new()));
    assert_eq!(offsets_log_end(&b, "g"), before, "nothing was written");
    assert!(listed_ids(&c).iter().all(|g| g != "g"));

    // The groups of the partitions still led are served as before.
    assert_eq!(c.fetch_offsets("h", None).unwrap()[0].1[0].offset, 7);
    assert_eq!(
        c.commit("h", -1, "", None, -1, vec![part(1, 8)]),
        vec![ErrorCode::None]
    );
}

#[test]
fn regaining_leadership_reloads_groups_and_offsets_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let b = open_simulated(dir.path(), no_delay());
    let c = b.groups.clone();
    let (leader, follower, generation) = two_member_group(&c);
    assert_eq!(
        commit(&c, &leader, generation, &[(0, 10), (1, 20)]),
        vec![ErrorCode::None; 2]
    );
    assert!(!c.leadership_changed(&all_but(None)), "already led: no-op");
    assert_eq!(heartbeat(&c, &follower, generation, None), ErrorCode::None);

    assert!(!c.leadership_changed(&offsets_partitions(&[])));
    assert!(c.led_partitions().is_empty());
    assert!(listed_ids(&c).is_empty());
    assert_eq!(
        heartbeat(&c, &follower, generation, None),
        ErrorCode::NotCoordinator
    );

    // Led again: g's partition has a log to replay, so it is loading until it is loaded.
    assert!(c.leadership_changed(&all_but(None)));
    let loading = ErrorCode::CoordinatorLoadInProgress;
    assert_eq!(heartbeat(&c, &follower, generation, None), loading);
    assert_eq!(c.fetch_offsets("g", None), Err(loading));
    assert_eq!(commit(&c, &leader, generation, &[(0, 99)]), vec![loading]);
    assert_eq!(c.list(&[]).0, loading);
    assert!(!c.wait_loaded(Duration::ZERO));
    c.load_pending();
    assert!(c.wait_loaded(Duration::ZERO));
    assert_eq!(c.list(&[]).0, ErrorCode::None);

    let offsets: Vec<(i64, String)> = c.fetch_offsets("g", None).unwrap()[0]
        .1
        .iter()
        .map(|f| (f.offset, f.metadata.clone()))
        .collect();
    assert_eq!(offsets, vec![(10, "m10".into()), (20, "m20".into())]);
    assert_eq!(state(&c), "Stable");
    assert_eq!(c.describe("g", false).members.len(), 2);
    assert_eq!(heartbeat(&c, &follower, generation, None), ErrorCode::None);
    match sync(&c, &follower, generation, &[]) {
        Reply::Now(s) => assert_eq!(s.assignment.as_ref(), b"F", "the assignment came back"),
        Reply::Wait(_) => panic!("a Stable group answers at once"),
    }

    // Writes go on in the new leadership, and survive the next move too.
    assert_eq!(
        commit(&c, &leader, generation, &[(0, 11)]),
        vec![ErrorCode::None]
    );
    assert!(!c.leadership_changed(&offsets_partitions(&[])));
    assert!(c.leadership_changed(&all_but(None)));
    c.load_pending();
    let offsets: Vec<i64> = c.fetch_offsets("g", None).unwrap()[0]
        .1
        .iter()
        .map(|f| f.offset)
        .collect();
    assert_eq!(offsets, vec![11, 20]);
}

/// The handlers put NOT_COORDINATOR and COORDINATOR_LOAD_IN_PROGRESS where Kafka does.
#[test]
fn handlers_answer_not_coordinator_where_each_version_carries_it() {
    use crate::server::handlers;
    use brook_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use brook_protocol::messages::offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
    };
    use brook_protocol::messages::{
        DeleteGroupsRequest, DescribeGroupsRequest, LeaveGroupRequest, ListGroupsRequest,
        OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest,
    };

    let dir = tempfile::tempdir().unwrap();
    let b = open_simulated(dir.path(), no_delay());
    assert_eq!(commit(&b.groups, "", -1, &[(0, 5)]), vec![ErrorCode::None]);
    let list = |b: &crate::server::Broker| {
        handlers::list_groups::handle(b, ListGroupsRequest::default(), 4)
    };
    assert_eq!(list(&b).groups.len(), 1);
    assert!(!b.groups.leadership_changed(&offsets_partitions(&[])));
    let not = ErrorCode::NotCoordinator.code();

    let hb = HeartbeatRequest {
        group_id: "g".into(),
        generation_id: 1,
        member_id: "m".into(),
        group_instance_id: None,
    };
    assert_eq!(handlers::heartbeat::handle(&b, hb).error_code, not);
    let leave = LeaveGroupRequest {
        group_id: "g".into(),
        member_id: "m".into(),
        members: vec![MemberIdentity {
            member_id: "m".into(),
            group_instance_id: None,
            reason: None,
        }],
    };
    assert_eq!(
        handlers::leave_group::handle(&b, leave.clone(), 1).error_code,
        not
    );
    let r = handlers::leave_group::handle(&b, leave, 3);
    assert_eq!((r.error_code, r.members.len()), (not, 0));
    let oc = OffsetCommitRequest {
        group_id: "g".into(),
        generation_id_or_member_epoch: -1,
        topics: vec![OffsetCommitRequestTopic {
            name: "t".into(),
            partitions: vec![OffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: 6,
                ..Default::default()
            }],
        }],
        ..Default::default()
    };
    let r = handlers::offset_commit::handle(&b, oc);
    assert_eq!(r.topics[0].partitions[0].error_code, not);
    let of = OffsetFetchRequest {
        group_id: "g".into(),
        topics: Some(vec![OffsetFetchRequestTopic {
            name: "t".into(),
            partition_indexes: vec![0, 1],
        }]),
        groups: vec![OffsetFetchRequestGroup {
            group_id: "g".into(),
            topics: Some(vec![OffsetFetchRequestTopics {
                name: "t".into(),
                partition_indexes: vec![0],
            }]),
            ..Default::default()
        }],
        ..Default::default()
    };
    // v0-1: each asked partition; v2-7: the response; v8+: the group.
    let r = handlers::offset_fetch::handle(&b, of.clone(), 1);
    let codes: Vec<(i16, i64)> = r.topics[0]
        .partitions
        .iter()
        .map(|p| (p.error_code, p.committed_offset))
        .collect();
    assert_eq!(codes, vec![(not, -1), (not, -1)]);
    let r = handlers::offset_fetch::handle(&b, of.clone(), 7);
    assert_eq!((r.error_code, r.topics.len()), (not, 0));
    let r = handlers::offset_fetch::handle(&b, of, 8);
    assert_eq!((r.groups[0].error_code, r.groups[0].topics.len()), (not, 0));
    let r = handlers::describe_groups::handle(
        &b,
        DescribeGroupsRequest {
            groups: vec!["g".into()],
            include_authorized_operations: false,
        },
        5,
    );
    assert_eq!(r.groups[0].error_code, not);
    let r = handlers::delete_groups::handle(
        &b,
        DeleteGroupsRequest {
            groups_names: vec!["g".into()],
        },
    );
    assert_eq!(r.results[0].error_code, not);
    let r = handlers::offset_delete::handle(
        &b,
        OffsetDeleteRequest {
            group_id: "g".into(),
            topics: Vec::new(),
        },
    );
    assert_eq!(r.error_code, not);
    let r = list(&b);
    assert_eq!((r.error_code, r.groups.len()), (0, 0), "nothing is listed");

    // While g's partition loads, ListGroups says so.
    assert!(b.groups.leadership_changed(&all_but(None)));
    assert_eq!(
        list(&b).error_code,
        ErrorCode::CoordinatorLoadInProgress.code()
    );
    b.groups.load_pending();
    let r = list(&b);
    assert_eq!((r.error_code, r.groups.len()), (0, 1));
}

#[test]
fn too_few_in_sync_replicas_refuse_a_commit_without_writing_it() {
    let dir = tempfile::tempdir().unwrap();
    let b = open_broker(dir.path(), no_delay());
    let c = b.groups.clone();
    assert_eq!(commit(&c, "", -1, &[(0, 5)]), vec![ErrorCode::None]);
    let configs = [("min.insync.replicas".to_string(), "2".to_string())]
        .into_iter()
        .collect();
    b.topics.set_configs(OFFSETS_TOPIC, configs, false).unwrap();
    let before = offsets_log_end(&b, "g");
    assert_eq!(
        commit(&c, "", -1, &[(0, 6)]),
        vec![ErrorCode::CoordinatorNotAvailable],
        "NOT_ENOUGH_REPLICAS, as Kafka answers it for a commit"
    );
    assert_eq!(offsets_log_end(&b, "g"), before);
    assert_eq!(c.fetch_offsets("g", None).unwrap()[0].1[0].offset, 5);
}

/// Three brokers in this process, each its own controller voter, served on local
/// listeners (followers fetch through them); closed on drop.
struct Cluster {
    brokers: Vec<Arc<crate::server::Broker>>,
    stops: Vec<oneshot::Sender<()>>,
    _rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn start(groups: GroupConfig) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listeners: Vec<std::net::TcpListener> = (0..3)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let voters: Vec<(i32, String)> = {
            let ports: Vec<std::net::TcpListener> = (0..3)
                .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
                .collect();
            ports
                .iter()
                .enumerate()
                .map(|(i, l)| (i as i32 + 1, l.local_addr().unwrap().to_string()))
                .collect()
        };
        // Each open waits for its registration, which needs a quorum: all at once.
        let brokers: Vec<crate::server::Broker> = std::thread::scope(|s| {
            let handles: Vec<_> = listeners
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let port = l.local_addr().unwrap().port();
                    let data = dir.path().join(format!("n{}", i + 1));
                    let mut config = crate::server::BrokerConfig {
                        node_id: i as i32 + 1,
                        groups: groups.clone(),
                        controller_wait: Duration::from_secs(60),
                        ..crate::server::BrokerConfig::default()
                    };
                    config.controller.voters = voters.clone();
                    s.spawn(move || {
                        crate::server::Broker::open(&data, config, ("127.0.0.1".into(), port))
                            .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut cluster = Cluster {
            brokers: Vec::new(),
            stops: Vec::new(),
            _rt: rt,
            _dir: dir,
        };
        for (broker, listener) in brokers.into_iter().zip(listeners) {
            let broker = Arc::new(broker);
            listener.set_nonblocking(true).unwrap();
            let (stop, stopped) = oneshot::channel::<()>();
            let _guard = cluster._rt.enter();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            cluster
                ._rt
                .spawn(crate::server::run(listener, broker.clone(), async {
                    let _ = stopped.await;
                }));
            cluster.brokers.push(broker);
            cluster.stops.push(stop);
        }
        cluster
    }

    fn node(&self, id: i32) -> &Arc<crate::server::Broker> {
        &self.brokers[(id - 1) as usize]
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for b in &self.brokers {
            let _ = b.close();
        }
    }
}

/// Polls `f` every 20 ms until it is `Some`, at most `timeout`.
fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A real cluster: `__consumer_offsets` with two replicas of each partition on three
/// brokers. Only the leader of the group's partition coordinates it; its SyncGroup and
/// OffsetCommit are answered once the follower holds them; on the leader's controlled
/// shutdown the follower becomes leader, loads the group and its offsets from its replica
/// and coordinates it, while the old leader drops it (its waiting member hears
/// NOT_COORDINATOR).
#[test]
fn three_brokers_move_a_group_with_the_leadership_of_its_partition() {
    let cluster = Cluster::start(GroupConfig {
        offsets_replication_factor: 2,
        ..no_delay()
    });
    let first = cluster.node(1);
    // Registered brokers are unfenced by their first heartbeat.
    wait_for(Duration::from_secs(30), "three live brokers", || {
        (first.topics.live_brokers() == 3).then_some(())
    });
    wait_for(Duration::from_secs(30), "topic t", || {
        match first.topics.create("t", 4, 3, &[], 1, false) {
            Ok(_) => Some(()),
            Err(e) => {
                eprintln!("creating t: {}", e.message);
                None
            }
        }
    });
    assert_eq!(first.groups.offsets_topic().unwrap().partitions(), 3);
    let p = partition_for("g", 3);
    let tp = TopicPartition::new(OFFSETS_TOPIC, p);
    let (leader, follower) = wait_for(Duration::from_secs(30), "an in-sync leader", || {
        let image = first.controller.view().image();
        let s = image.partition(OFFSETS_TOPIC, p)?;
        assert_eq!(s.replicas.len(), 2, "offsets.topic.replication.factor");
        let follower = *s.replicas.iter().find(|r| **r != s.leader)?;
        (s.leader > 0 && s.isr.len() == 2).then_some((s.leader, follower))
    });
    let other = (1..=3).find(|id| *id != leader && *id != follower).unwrap();
    let (lc, fc, oc) = (
        &cluster.node(leader).groups,
        &cluster.node(follower).groups,
        &cluster.node(other).groups,
    );
    wait_for(
        Duration::from_secs(30),
        "the leader loads g's partition",
        || lc.led_partitions().contains(&(p, true)).then_some(()),
    );
    assert!(
        cluster.node(other).replicas.replica(&tp).is_none(),
        "the third broker holds no replica of it"
    );
    for c in [fc, oc] {
        let r = now_or_wait(c.join(join_req("", None, b"a"), 3, client()));
        assert_eq!(r.error_code, ErrorCode::NotCoordinator.code());
        assert_eq!(
            commit(c, "", -1, &[(0, 1)]),
            vec![ErrorCode::NotCoordinator]
        );
    }

    // JoinGroup v3: no MEMBER_ID_REQUIRED round; alone, the member's join completes.
    let r = now_or_wait(lc.join(join_req("", None, b"a"), 3, client()));
    assert_eq!((r.error_code, r.generation_id), (0, 1));
    let a = r.member_id;
    let s = match sync(lc, &a, 1, &[(&a, b"A")]) {
        Reply::Now(s) => s,
        Reply::Wait(rx) => rx.blocking_recv().unwrap(),
    };
    assert_eq!((s.error_code, s.assignment.as_ref()), (0, &b"A"[..]));
    assert_eq!(commit(lc, &a, 1, &[(0, 42)]), vec![ErrorCode::None]);
    let leader_log = cluster
        .node(leader)
        .replicas
        .replica(&tp)
        .unwrap()
        .log
        .clone();
    let follower_log = cluster
        .node(follower)
        .replicas
        .replica(&tp)
        .unwrap()
        .log
        .clone();
    assert_eq!(
        follower_log.log_end_offset(),
        leader_log.log_end_offset(),
        "the commit was answered once the follower held it"
    );
    assert_eq!(lc.fetch_offsets("g", None).unwrap()[0].1[0].offset, 42);

    // A second member waits in JoinGroup as the leadership moves.
    let Reply::Wait(mut waiting) = lc.join(join_req("", None, b"b"), 3, client()) else {
        panic!("the second member waits for the first to rejoin");
    };
    cluster
        .node(leader)
        .controller
        .shutdown_broker(Duration::from_secs(10));
    let r = wait_for(
        Duration::from_secs(30),
        "the waiting member's answer",
        || waiting.try_recv().ok(),
    );
    assert_eq!(r.error_code, ErrorCode::NotCoordinator.code());
    wait_for(
        Duration::from_secs(30),
        "the follower loads g's partition",
        || fc.led_partitions().contains(&(p, true)).then_some(()),
    );
    assert_eq!(heartbeat(lc, &a, 1, None), ErrorCode::NotCoordinator);
    assert!(lc.led_partitions().iter().all(|(q, _)| *q != p));
    assert!(
        listed_ids(lc).is_empty(),
        "the old leader dropped the group"
    );

    // The new coordinator has the group, Stable with its member, and its offsets.
    assert_eq!(fc.fetch_offsets("g", None).unwrap()[0].1[0].offset, 42);
    assert_eq!(state(fc), "Stable");
    assert_eq!(heartbeat(fc, &a, 1, None), ErrorCode::None);
    match sync(fc, &a, 1, &[]) {
        Reply::Now(s) => assert_eq!(s.assignment.as_ref(), b"A"),
        Reply::Wait(_) => panic!("a Stable group answers at once"),
    }
    assert_eq!(commit(fc, &a, 1, &[(0, 43)]), vec![ErrorCode::None]);
    assert_eq!(fc.fetch_offsets("g", None).unwrap()[0].1[0].offset, 43);
    assert_eq!(heartbeat(oc, &a, 1, None), ErrorCode::NotCoordinator);
}
