//! The operations a client may perform, as Metadata, DescribeCluster and DescribeGroups
//! report them when asked (`include_*_authorized_operations`): a bit field of Kafka's ACL
//! operation codes. There is no authorizer yet (issue #15), so — as Kafka without one —
//! every operation a resource type supports is reported; a field not asked for carries
//! Kafka's "not requested" value.

/// Kafka's value of an authorized-operations field nobody asked for.
pub const NOT_REQUESTED: i32 = i32::MIN;

const READ: i32 = 3;
const WRITE: i32 = 4;
const CREATE: i32 = 5;
const DELETE: i32 = 6;
const ALTER: i32 = 7;
const DESCRIBE: i32 = 8;
const CLUSTER_ACTION: i32 = 9;
const DESCRIBE_CONFIGS: i32 = 10;
const ALTER_CONFIGS: i32 = 11;
const IDEMPOTENT_WRITE: i32 = 12;

const fn bits(ops: &[i32]) -> i32 {
    let mut out = 0;
    let mut i = 0;
    while i < ops.len() {
        out |= 1 << ops[i];
        i += 1;
    }
    out
}

/// What Kafka allows on a topic (`AclEntry.supportedOperations(TOPIC)`).
pub const TOPIC: i32 = bits(&[
    READ,
    WRITE,
    CREATE,
    DELETE,
    ALTER,
    DESCRIBE,
    DESCRIBE_CONFIGS,
    ALTER_CONFIGS,
]);
/// On a group.
pub const GROUP: i32 = bits(&[READ, DESCRIBE, DELETE]);
/// On the cluster.
pub const CLUSTER: i32 = bits(&[
    CREATE,
    CLUSTER_ACTION,
    DESCRIBE_CONFIGS,
    ALTER_CONFIGS,
    IDEMPOTENT_WRITE,
    ALTER,
    DESCRIBE,
]);

/// The field's value: `ops` when the client asked, else [`NOT_REQUESTED`].
pub fn reported(asked: bool, ops: i32) -> i32 {
    if asked {
        ops
    } else {
        NOT_REQUESTED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bit_fields_are_kafkas() {
        // The values Kafka's brokers report without an authorizer.
        assert_eq!(TOPIC, 3576);
        assert_eq!(GROUP, 328);
        assert_eq!(CLUSTER, 8096);
        assert_eq!(reported(false, TOPIC), i32::MIN);
    }
}
