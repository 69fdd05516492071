//! The group coordinator over the wire: every served version of every group API encodes and
//! decodes, a two-member group forms through raw JoinGroup/SyncGroup frames, and committed
//! offsets survive a broker restart through `__consumer_offsets`.

use std::time::Duration;

mod common;

use brook_broker::server::handlers::SUPPORTED;
use brook_broker::server::BrokerConfig;
use brook_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use brook_protocol::messages::leave_group_request::MemberIdentity;
use brook_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use brook_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic,
};
use brook_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use brook_protocol::messages::*;
use bytes::Bytes;
use common::{body_of, call, start, start_in};
use tokio::net::TcpStream;

fn config() -> BrokerConfig {
    let mut c = BrokerConfig::default();
    c.set("group.initial.rebalance.delay.ms", "0").unwrap();
    c.set("offsets.topic.num.partitions", "4").unwrap();
    c
}

fn versions(key: i16) -> std::ops::RangeInclusive<i16> {
    let &(_, min, max) = SUPPORTED.iter().find(|(k, _, _)| *k == key).unwrap();
    min..=max
}

async fn create_topic(s: &mut TcpStream, name: &str, partitions: i32) {
    let req = CreateTopicsRequest {
        topics: vec![create_topics_request::CreatableTopic {
            name: name.into(),
            num_partitions: partitions,
            replication_factor: 1,
            ..Default::default()
        }],
        timeout_ms: 1000,
        ..Default::default()
    };
    let r = call(s, CreateTopicsRequest::API_KEY, 5, |o| {
        req.encode(5, o).unwrap()
    })
    .await;
    let resp =
        CreateTopicsResponse::decode(&mut body_of(&r, CreateTopicsRequest::API_KEY, 5), 5).unwrap();
    assert_eq!(resp.topics[0].error_code, 0);
}

fn join_req(member: &str, version: i16) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: format!("g{version}"),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        member_id: member.into(),
        group_instance_id: None,
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            metadata: Bytes::from_static(b"meta"),
        }],
        reason: None,
    }
}

async fn join(s: &mut TcpStream, req: &JoinGroupRequest, v: i16) -> JoinGroupResponse {
    let r = call(s, JoinGroupRequest::API_KEY, v, |o| {
        req.encode(v, o).unwrap()
    })
    .await;
    JoinGroupResponse::decode(&mut body_of(&r, JoinGroupRequest::API_KEY, v), v).unwrap()
}

async fn sync(s: &mut TcpStream, req: &SyncGroupRequest, v: i16) -> SyncGroupResponse {
    let r = call(s, SyncGroupRequest::API_KEY, v, |o| {
        req.encode(v, o).unwrap()
    })
    .await;
    SyncGroupResponse::decode(&mut body_of(&r, SyncGroupRequest::API_KEY, v), v).unwrap()
}

/// One member per JoinGroup version forms its own group, syncs, heartbeats, commits and
/// fetches at matching versions, and leaves.
#[tokio::test]
async fn every_version_of_the_group_apis_round_trips() {
    let b = start(config()).await;
    let mut s = TcpStream::connect(b.addr).await.unwrap();
    create_topic(&mut s, "t", 2).await;

    for v in versions(FindCoordinatorRequest::API_KEY) {
        let req = FindCoordinatorRequest {
            key: if v < 4 { "g".into() } else { String::new() },
            key_type: 0,
            coordinator_keys: if v >= 4 {
                vec!["g".into(), "h".into()]
            } else {
                vec![]
            },
        };
        let r = call(&mut s, FindCoordinatorRequest::API_KEY, v, |o| {
            req.encode(v, o).unwrap()
        })
        .await;
        let resp = FindCoordinatorResponse::decode(&mut body_of(&r, 10, v), v).unwrap();
        if v < 4 {
            assert_eq!(
                (resp.error_code, resp.node_id, resp.port),
                (0, 1, i32::from(b.addr.port()))
            );
        } else {
            assert_eq!(resp.coordinators.len(), 2);
            assert!(resp
                .coordinators
                .iter()
                .all(|c| c.error_code == 0 && c.node_id == 1));
        }
    }

    for v in versions(JoinGroupRequest::API_KEY) {
        let mut req = join_req("", v);
        let mut resp = join(&mut s, &req, v).await;
        if v >= 4 {
            assert_eq!(resp.error_code, 79, "v{v}: MEMBER_ID_REQUIRED");
            req.member_id = resp.member_id.clone();
            resp = join(&mut s, &req, v).await;
        }
        assert_eq!(resp.error_code, 0, "JoinGroup v{v}");
        assert_eq!(resp.generation_id, 1);
        assert_eq!(resp.leader, resp.member_id);
        assert_eq!(resp.members.len(), 1);
        assert_eq!(resp.members[0].metadata.as_ref(), b"meta");
        let member = resp.member_id.clone();
        let group = req.group_id.clone();

        let sv = v.min(*versions(SyncGroupRequest::API_KEY).end());
        let sreq = SyncGroupRequest {
            group_id: group.clone(),
            generation_id: 1,
            member_id: member.clone(),
            protocol_type: (sv >= 5).then(|| "consumer".into()),
            protocol_name: (sv >= 5).then(|| "range".into()),
            assignments: vec![SyncGroupRequestAssignment {
                member_id: member.clone(),
                assignment: Bytes::from_static(b"assigned"),
            }],
            ..Default::default()
        };
        let sresp = sync(&mut s, &sreq, sv).await;
        assert_eq!(
            (sresp.error_code, sresp.assignment.as_ref()),
            (0, &b"assigned"[..]),
            "SyncGroup v{sv}"
        );

        let hv = v.min(*versions(HeartbeatRequest::API_KEY).end());
        let hreq = HeartbeatRequest {
            group_id: group.clone(),
            generation_id: 1,
            member_id: member.clone(),
            group_instance_id: None,
        };
        let r = call(&mut s, 12, hv, |o| hreq.encode(hv, o).unwrap()).await;
        assert_eq!(
            HeartbeatResponse::decode(&mut body_of(&r, 12, hv), hv)
                .unwrap()
                .error_code,
            0
        );

        let cv = v.min(*versions(OffsetCommitRequest::API_KEY).end());
        let creq = OffsetCommitRequest {
            group_id: group.clone(),
            generation_id_or_member_epoch: if cv >= 1 { 1 } else { -1 },
            member_id: if cv >= 1 {
                member.clone()
            } else {
                String::new()
            },
            topics: vec![OffsetCommitRequestTopic {
                name: "t".into(),
                partitions: vec![OffsetCommitRequestPartition {
                    partition_index: 1,
                    committed_offset: 100 + i64::from(v),
                    committed_metadata: Some("meta".into()),
                    ..Default::default()
                }],
            }],
            ..Default::default()
        };
        if cv >= 1 {
            let r = call(&mut s, 8, cv, |o| creq.encode(cv, o).unwrap()).await;
            let resp = OffsetCommitResponse::decode(&mut body_of(&r, 8, cv), cv).unwrap();
            assert_eq!(
                resp.topics[0].partitions[0].error_code, 0,
                "OffsetCommit v{cv}"
            );
        }

        for fv in versions(OffsetFetchRequest::API_KEY).filter(|fv| cv >= 1 && *fv >= 1) {
            let freq = if fv >= 8 {
                OffsetFetchRequest {
                    groups: vec![OffsetFetchRequestGroup {
                        group_id: group.clone(),
                        member_id: None,
                        member_epoch: -1,
                        topics: None,
                    }],
                    ..Default::default()
                }
            } else {
                OffsetFetchRequest {
                    group_id: group.clone(),
                    topics: Some(vec![OffsetFetchRequestTopic {
                        name: "t".into(),
                        partition_indexes: vec![0, 1],
                    }]),
                    ..Default::default()
                }
            };
            let r = call(&mut s, 9, fv, |o| freq.encode(fv, o).unwrap()).await;
            let resp = OffsetFetchResponse::decode(&mut body_of(&r, 9, fv), fv).unwrap();
            let offsets: Vec<(i32, i64)> = if fv >= 8 {
                resp.groups[0].topics[0]
                    .partitions
                    .iter()
                    .map(|p| (p.partition_index, p.committed_offset))
                    .collect()
            } else {
                resp.topics[0]
                    .partitions
                    .iter()
                    .map(|p| (p.partition_index, p.committed_offset))
                    .collect()
            };
            let want = if fv >= 8 {
                vec![(1, 100 + i64::from(v))]
            } else {
                vec![(0, -1), (1, 100 + i64::from(v))]
            };
            assert_eq!(offsets, want, "OffsetFetch v{fv} after JoinGroup v{v}");
        }

        for dv in versions(DescribeGroupsRequest::API_KEY) {
            let dreq = DescribeGroupsRequest {
                groups: vec![group.clone(), "nope".into()],
                include_authorized_operations: dv >= 3,
            };
            let r = call(&mut s, 15, dv, |o| dreq.encode(dv, o).unwrap()).await;
            let resp = DescribeGroupsResponse::decode(&mut body_of(&r, 15, dv), dv).unwrap();
            assert_eq!(resp.groups[0].group_state, "Stable");
            assert_eq!(resp.groups[0].protocol_data, "range");
            assert_eq!(
                resp.groups[0].members[0].member_assignment.as_ref(),
                b"assigned"
            );
            assert_eq!(resp.groups[0].members[0].client_id, "test");
            assert_eq!(resp.groups[1].group_state, "Dead");
        }

        let lv = v.min(*versions(LeaveGroupRequest::API_KEY).end());
        let lreq = if lv >= 3 {
            LeaveGroupRequest {
                group_id: group.clone(),
                member_id: String::new(),
                members: vec![MemberIdentity {
                    member_id: member.clone(),
                    group_instance_id: None,
                    reason: None,
                }],
            }
        } else {
            LeaveGroupRequest {
                group_id: group.clone(),
                member_id: member.clone(),
                members: vec![],
            }
        };
        let r = call(&mut s, 13, lv, |o| lreq.encode(lv, o).unwrap()).await;
        let resp = LeaveGroupResponse::decode(&mut body_of(&r, 13, lv), lv).unwrap();
        assert_eq!(resp.error_code, 0);
        if lv >= 3 {
            assert_eq!(resp.members[0].error_code, 0);
        }
    }

    for v in versions(ListGroupsRequest::API_KEY) {
        let req = ListGroupsRequest {
            states_filter: if v >= 4 { vec!["empty".into()] } else { vec![] },
            types_filter: vec![],
        };
        let r = call(&mut s, 16, v, |o| req.encode(v, o).unwrap()).await;
        let resp = ListGroupsResponse::decode(&mut body_of(&r, 16, v), v).unwrap();
        assert_eq!(
            resp.groups.len(),
            10,
            "ListGroups v{v}: one group per JoinGroup version"
        );
        if v >= 4 {
            assert!(resp.groups.iter().all(|g| g.group_state == "Empty"));
        }
    }

    let req = OffsetDeleteRequest {
        group_id: "g9".into(),
        topics: vec![offset_delete_request::OffsetDeleteRequestTopic {
            name: "t".into(),
            partitions: vec![offset_delete_request::OffsetDeleteRequestPartition {
                partition_index: 1,
            }],
        }],
    };
    let r = call(&mut s, 47, 0, |o| req.encode(0, o).unwrap()).await;
    let resp = OffsetDeleteResponse::decode(&mut body_of(&r, 47, 0), 0).unwrap();
    assert_eq!(
        (resp.error_code, resp.topics[0].partitions[0].error_code),
        (0, 0)
    );

    for v in versions(DeleteGroupsRequest::API_KEY) {
        let req = DeleteGroupsRequest {
            groups_names: vec![format!("g{v}"), "nope".into()],
        };
        let r = call(&mut s, 42, v, |o| req.encode(v, o).unwrap()).await;
        let resp = DeleteGroupsResponse::decode(&mut body_of(&r, 42, v), v).unwrap();
        assert_eq!(resp.results[0].error_code, 0);
        assert_eq!(resp.results[1].error_code, 69, "GROUP_ID_NOT_FOUND");
    }
    b.stop();
}

/// Two connections form a group: the first JoinGroup waits (on the async side, without
/// holding up other connections) until the second member joins.
#[tokio::test]
async fn a_join_waits_for_the_other_member_and_offsets_survive_a_restart() {
    let b = start(config()).await;
    let mut s1 = TcpStream::connect(b.addr).await.unwrap();
    let mut s2 = TcpStream::connect(b.addr).await.unwrap();
    create_topic(&mut s1, "t", 2).await;
    let mut r1 = join_req("", 7);
    r1.group_id = "shared".into();
    let mut r2 = r1.clone();
    r1.member_id = join(&mut s1, &r1, 7).await.member_id;
    r2.member_id = join(&mut s2, &r2, 7).await.member_id;
    let first = {
        let r1 = r1.clone();
        let mut s1 = s1;
        tokio::spawn(async move { (join(&mut s1, &r1, 7).await, s1) })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !first.is_finished(),
        "the first member waits for the second"
    );
    let a2 = join(&mut s2, &r2, 7).await;
    let (a1, mut s1) = tokio::time::timeout(Duration::from_secs(10), first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a1.generation_id, a2.generation_id), (1, 1));
    assert_eq!(a1.leader, a2.leader);
    assert_eq!(
        a1.members.len() + a2.members.len(),
        2,
        "only the leader gets the members"
    );

    let commit = OffsetCommitRequest {
        group_id: "shared".into(),
        generation_id_or_member_epoch: 1,
        member_id: r1.member_id.clone(),
        topics: vec![OffsetCommitRequestTopic {
            name: "t".into(),
            partitions: vec![OffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: 42,
                ..Default::default()
            }],
        }],
        ..Default::default()
    };
    // CompletingRebalance: nobody has synced yet.
    let r = call(&mut s1, 8, 8, |o| commit.encode(8, o).unwrap()).await;
    let resp = OffsetCommitResponse::decode(&mut body_of(&r, 8, 8), 8).unwrap();
    assert_eq!(
        resp.topics[0].partitions[0].error_code, 27,
        "REBALANCE_IN_PROGRESS"
    );
    let (leader_s, leader_id, other_s, other_id) = if a1.leader == r1.member_id {
        (&mut s1, r1.member_id.clone(), &mut s2, r2.member_id.clone())
    } else {
        (&mut s2, r2.member_id.clone(), &mut s1, r1.member_id.clone())
    };
    let sreq = |member: &str, assignments: Vec<SyncGroupRequestAssignment>| SyncGroupRequest {
        group_id: "shared".into(),
        generation_id: 1,
        member_id: member.into(),
        assignments,
        ..Default::default()
    };
    let leader_sync = sreq(
        &leader_id,
        vec![
            SyncGroupRequestAssignment {
                member_id: leader_id.clone(),
                assignment: Bytes::from_static(b"L"),
            },
            SyncGroupRequestAssignment {
                member_id: other_id.clone(),
                assignment: Bytes::from_static(b"O"),
            },
        ],
    );
    assert_eq!(
        sync(leader_s, &leader_sync, 3).await.assignment.as_ref(),
        b"L"
    );
    assert_eq!(
        sync(other_s, &sreq(&other_id, vec![]), 3)
            .await
            .assignment
            .as_ref(),
        b"O"
    );
    let r = call(&mut s1, 8, 8, |o| commit.encode(8, o).unwrap()).await;
    let resp = OffsetCommitResponse::decode(&mut body_of(&r, 8, 8), 8).unwrap();
    assert_eq!(resp.topics[0].partitions[0].error_code, 0);
    drop((s1, s2));

    let dir = b.stop();
    let b = start_in(dir, config()).await;
    let mut s = TcpStream::connect(b.addr).await.unwrap();
    let fetch = OffsetFetchRequest {
        group_id: "shared".into(),
        topics: None,
        ..Default::default()
    };
    let r = call(&mut s, 9, 7, |o| fetch.encode(7, o).unwrap()).await;
    let resp = OffsetFetchResponse::decode(&mut body_of(&r, 9, 7), 7).unwrap();
    assert_eq!(resp.topics.len(), 1);
    assert_eq!(resp.topics[0].partitions[0].committed_offset, 42);
    // The group came back Stable, so its members heartbeat on without a rebalance.
    let hb = HeartbeatRequest {
        group_id: "shared".into(),
        generation_id: 1,
        member_id: other_id,
        group_instance_id: None,
    };
    let r = call(&mut s, 12, 4, |o| hb.encode(4, o).unwrap()).await;
    assert_eq!(
        HeartbeatResponse::decode(&mut body_of(&r, 12, 4), 4)
            .unwrap()
            .error_code,
        0
    );
    b.stop();
}
