//! Replica assignment at topic creation, as Kafka does it (`AdminUtils.assignReplicasToBrokers`):
//! leaders spread round robin over the brokers from a start index, each partition's followers
//! on the next brokers with a shift that grows every time the partitions wrap around the
//! broker list, so that no two brokers follow each other everywhere. When every broker has a
//! `broker.rack`, the broker list first alternates racks (`a1, b1, c1, a2, b2, ...`) and the
//! followers of a partition go to racks that hold none of its replicas yet, while some are
//! left; a broker holds at most one replica of a partition.
//!
//! The start index and the first shift are parameters (Kafka draws them at random), so an
//! assignment can be reproduced.

use std::collections::BTreeMap;

/// A broker that can hold replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub id: i32,
    pub rack: Option<String>,
}

impl BrokerInfo {
    pub fn new(id: i32, rack: Option<&str>) -> BrokerInfo {
        BrokerInfo {
            id,
            rack: rack.map(str::to_owned),
        }
    }
}

/// Why replicas cannot be assigned (Kafka's INVALID_REPLICATION_FACTOR and
/// INVALID_PARTITIONS cases).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignmentError {
    #[error("Number of partitions must be larger than 0.")]
    NoPartitions,
    #[error("Replication factor must be larger than 0.")]
    NoReplicas,
    #[error("Replication factor: {factor} larger than available brokers: {brokers}.")]
    TooFewBrokers { factor: i16, brokers: usize },
    #[error("Not all brokers have rack information for replica rack aware assignment.")]
    MixedRacks,
}

/// The replicas (leader first) of each partition of a new topic.
///
/// `start` picks the first partition's leader and `shift` the first follower offset;
/// Kafka chooses both at random. Brokers are taken in id order.
pub fn assign_replicas(
    brokers: &[BrokerInfo],
    partitions: i32,
    replication_factor: i16,
    start: usize,
    shift: usize,
) -> Result<Vec<Vec<i32>>, AssignmentError> {
    if partitions <= 0 {
        return Err(AssignmentError::NoPartitions);
    }
    if replication_factor <= 0 {
        return Err(AssignmentError::NoReplicas);
    }
    if replication_factor as usize > brokers.len() {
        return Err(AssignmentError::TooFewBrokers {
            factor: replication_factor,
            brokers: brokers.len(),
        });
    }
    let mut sorted = brokers.to_vec();
    sorted.sort_by_key(|b| b.id);
    let with_racks = sorted.iter().filter(|b| b.rack.is_some()).count();
    if with_racks == 0 {
        let ids: Vec<i32> = sorted.iter().map(|b| b.id).collect();
        Ok(without_racks(
            &ids,
            partitions,
            replication_factor,
            start,
            shift,
        ))
    } else if with_racks == sorted.len() {
        Ok(with_rack_awareness(
            &sorted,
            partitions,
            replication_factor,
            start,
            shift,
        ))
    } else {
        Err(AssignmentError::MixedRacks)
    }
}

/// The index of follower `j` of a partition led by `first`, with the current shift.
fn follower(first: usize, shift: usize, j: usize, n: usize) -> usize {
    (first + 1 + (shift + j) % (n - 1)) % n
}

fn without_racks(
    ids: &[i32],
    partitions: i32,
    factor: i16,
    start: usize,
    shift: usize,
) -> Vec<Vec<i32>> {
    let n = ids.len();
    let start = start % n;
    let mut shift = shift % n.max(1);
    let mut out = Vec::with_capacity(partitions as usize);
    for p in 0..partitions as usize {
        if p > 0 && p % n == 0 {
            shift += 1;
        }
        let first = (p + start) % n;
        let mut replicas = vec![ids[first]];
        for j in 0..(factor as usize - 1) {
            replicas.push(ids[follower(first, shift, j, n)]);
        }
        out.push(replicas);
    }
    out
}

/// The brokers in rack-alternating order: the first broker of each rack (racks by name),
/// then the second of each, and so on.
pub fn rack_alternated(brokers: &[BrokerInfo]) -> Vec<BrokerInfo> {
    let mut by_rack: BTreeMap<&str, Vec<&BrokerInfo>> = BTreeMap::new();
    for b in brokers {
        by_rack
            .entry(b.rack.as_deref().unwrap_or(""))
            .or_default()
            .push(b);
    }
    for list in by_rack.values_mut() {
        list.sort_by_key(|b| b.id);
    }
    let mut out = Vec::with_capacity(brokers.len());
    let mut round = 0;
    while out.len() < brokers.len() {
        for list in by_rack.values() {
            if let Some(b) = list.get(round) {
                out.push((*b).clone());
            }
        }
        round += 1;
    }
    out
}

fn with_rack_awareness(
    brokers: &[BrokerInfo],
    partitions: i32,
    factor: i16,
    start: usize,
    shift: usize,
) -> Vec<Vec<i32>> {
    let arranged = rack_alternated(brokers);
    let n = arranged.len();
    let racks = {
        let mut r: Vec<&str> = arranged.iter().filter_map(|b| b.rack.as_deref()).collect();
        r.sort_unstable();
        r.dedup();
        r.len()
    };
    let start = start % n;
    let mut shift = shift % n.max(1);
    let mut out = Vec::with_capacity(partitions as usize);
    for p in 0..partitions as usize {
        if p > 0 && p % n == 0 {
            shift += 1;
        }
        let first = (p + start) % n;
        let leader = &arranged[first];
        let mut replicas = vec![leader.id];
        let mut racks_used: Vec<&str> = leader.rack.as_deref().into_iter().collect();
        // The followers' candidates cycle over every other broker; a rack that already
        // has a replica is passed over while some rack has none, a broker always is.
        // Terminates: the factor is at most the broker count, and a broker on an unused
        // rack is always among the candidates while one is unused.
        let mut k = 0;
        while replicas.len() < factor as usize {
            let b = &arranged[follower(first, shift, k, n)];
            k += 1;
            let rack = b.rack.as_deref().unwrap_or("");
            let rack_ok = !racks_used.contains(&rack) || racks_used.len() == racks;
            if rack_ok && !replicas.contains(&b.id) {
                replicas.push(b.id);
                if !racks_used.contains(&rack) {
                    racks_used.push(rack);
                }
            }
        }
        out.push(replicas);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn plain(n: i32) -> Vec<BrokerInfo> {
        (0..n).map(|i| BrokerInfo::new(i, None)).collect()
    }

    #[test]
    fn without_racks_matches_kafkas_round_robin() {
        // Kafka's documented example: 5 brokers, 10 partitions, 3 replicas, start 0,
        // shift 0: leaders 0..4 twice, followers shifted by one after the wrap.
        let a = assign_replicas(&plain(5), 10, 3, 0, 0).unwrap();
        assert_eq!(a[0], vec![0, 1, 2]);
        assert_eq!(a[1], vec![1, 2, 3]);
        assert_eq!(a[4], vec![4, 0, 1]);
        assert_eq!(a[5], vec![0, 2, 3]);
        assert_eq!(a[9], vec![4, 1, 2]);
    }

    #[test]
    fn leaders_and_replicas_spread_evenly() {
        for (brokers, partitions, rf) in [(3, 12, 3), (4, 16, 2), (5, 50, 3), (6, 7, 1)] {
            for start in 0..brokers as usize {
                let a = assign_replicas(&plain(brokers), partitions, rf, start, start).unwrap();
                let mut leaders = vec![0; brokers as usize];
                let mut replicas = vec![0; brokers as usize];
                for r in &a {
                    assert_eq!(r.len(), rf as usize);
                    let distinct: BTreeSet<_> = r.iter().collect();
                    assert_eq!(distinct.len(), r.len(), "{r:?}");
                    leaders[r[0] as usize] += 1;
                    for b in r {
                        replicas[*b as usize] += 1;
                    }
                }
                let spread = |v: &[i32]| v.iter().max().unwrap() - v.iter().min().unwrap();
                assert!(spread(&leaders) <= 1, "{leaders:?}");
                assert!(spread(&replicas) <= rf as i32, "{replicas:?}");
            }
        }
    }

    #[test]
    fn racks_alternate_and_each_partition_spans_racks() {
        let brokers = vec![
            BrokerInfo::new(0, Some("a")),
            BrokerInfo::new(1, Some("a")),
            BrokerInfo::new(2, Some("b")),
            BrokerInfo::new(3, Some("b")),
            BrokerInfo::new(4, Some("c")),
            BrokerInfo::new(5, Some("c")),
        ];
        let order: Vec<i32> = rack_alternated(&brokers).iter().map(|b| b.id).collect();
        assert_eq!(order, vec![0, 2, 4, 1, 3, 5]);
        let rack = |id: i32| brokers[id as usize].rack.clone().unwrap();
        let a = assign_replicas(&brokers, 12, 3, 0, 0).unwrap();
        for r in &a {
            let racks: BTreeSet<String> = r.iter().map(|b| rack(*b)).collect();
            assert_eq!(racks.len(), 3, "{r:?}");
        }
        // Two replicas on three racks never share a rack either.
        for r in assign_replicas(&brokers, 9, 2, 1, 2).unwrap() {
            assert_ne!(rack(r[0]), rack(r[1]), "{r:?}");
        }
    }

    #[test]
    fn more_replicas_than_racks_still_fills_every_partition() {
        let brokers = vec![
            BrokerInfo::new(0, Some("a")),
            BrokerInfo::new(1, Some("a")),
            BrokerInfo::new(2, Some("b")),
            BrokerInfo::new(3, Some("b")),
        ];
        for r in assign_replicas(&brokers, 8, 3, 0, 0).unwrap() {
            let distinct: BTreeSet<_> = r.iter().collect();
            assert_eq!(distinct.len(), 3, "{r:?}");
            let racks: BTreeSet<_> = r
                .iter()
                .map(|b| brokers[*b as usize].rack.clone())
                .collect();
            assert_eq!(racks.len(), 2, "{r:?}");
        }
    }

    #[test]
    fn bad_requests_are_refused_with_kafkas_reasons() {
        assert_eq!(
            assign_replicas(&plain(2), 3, 3, 0, 0),
            Err(AssignmentError::TooFewBrokers {
                factor: 3,
                brokers: 2
            })
        );
        assert_eq!(
            assign_replicas(&plain(2), 0, 1, 0, 0),
            Err(AssignmentError::NoPartitions)
        );
        assert_eq!(
            assign_replicas(&plain(2), 1, 0, 0, 0),
            Err(AssignmentError::NoReplicas)
        );
        let mixed = vec![BrokerInfo::new(0, Some("a")), BrokerInfo::new(1, None)];
        assert_eq!(
            assign_replicas(&mixed, 1, 1, 0, 0),
            Err(AssignmentError::MixedRacks)
        );
    }
}
