//! What the driver's unit tests share.

use common::protocol::Container;
use common::token::{AppSecret, ContainerToken, ContainerTokenIdentifier, KeyId};
use common::{ApplicationId, NodeId, Resource};

/// Container `n` of application 1's first attempt: 1408 MB, one vcore, on node "h:1".
pub(crate) fn container(n: u64) -> Container {
    let app = ApplicationId::new(1, 1);
    let id = app.attempt(1).container(n);
    Container {
        id,
        node_id: NodeId("h:1".into()),
        node_address: "h:1".into(),
        resource: Resource::new(1408, 1),
        token: ContainerToken {
            identifier: ContainerTokenIdentifier {
                container_id: id,
                app,
                node_id: NodeId("h:1".into()),
                resource: Resource::new(1408, 1),
                user: "u".into(),
                issued_ms: 0,
                expiry_ms: 0,
                app_secret: AppSecret::default(),
            },
            key_id: KeyId(1),
            mac: vec![],
        },
    }
}
