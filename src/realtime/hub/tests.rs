//! Unit tests of the hub: presence on first and last connections, alone and
//! across two clustered hubs, slow consumers, removal from a group.

use super::*;

fn user(id: &str) -> UserRef {
    UserRef {
        id: id.into(),
        username: format!("{id}-name"),
    }
}

fn register(hub: &Hub, id: &str) -> Registration {
    hub.try_register(user(id), usize::MAX).expect("no cap")
}

fn drain(rx: &mut mpsc::Receiver<Arc<str>>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(frame) = rx.try_recv() {
        out.push(frame.to_string());
    }
    out
}

#[test]
fn presence_changes_only_on_the_first_and_last_connection_of_a_user() {
    let hub = Hub::default();
    let mut watcher = register(&hub, "w");
    hub.join(&"room".into(), &watcher.conn);
    let a1 = register(&hub, "a");
    let a2 = register(&hub, "a");
    hub.join(&"room".into(), &a1.conn);
    hub.join(&"room".into(), &a2.conn);
    let frames = drain(&mut watcher.outbound);
    assert_eq!(
        frames
            .iter()
            .filter(|f| f.contains(r#""status":"online""#))
            .count(),
        1,
        "{frames:?}"
    );
    hub.leave(&"room".into(), &a1.conn);
    assert!(
        drain(&mut watcher.outbound).is_empty(),
        "a second tab leaving is not offline"
    );
    hub.unregister(&a2.conn, ["room".into()]);
    let frames = drain(&mut watcher.outbound);
    assert_eq!(frames.len(), 1);
    assert!(frames[0].contains(r#""status":"offline""#));
    assert_eq!(hub.room_online(&"room".into()), vec![user("w")]);
    assert!(
        hub.is_online(&"a".into()),
        "a1 is still connected, just not in the room"
    );
    hub.unregister(&a1.conn, Vec::new());
    assert!(!hub.is_online(&"a".into()));
}

/// A backplane that keeps this node's presence transitions, for another hub.
#[derive(Default, Clone)]
struct Recorded(Arc<std::sync::Mutex<Vec<Change>>>);

impl Backplane for Recorded {
    fn forward(&self, _audience: &Audience, _frame: &Arc<str>) {}
    fn presence(&self, change: &Change) {
        self.0.lock().unwrap().push(change.clone());
    }
}

impl Recorded {
    /// Hands what was recorded to `to` as node `from`'s transitions.
    fn deliver(&self, from: &str, to: &Hub) {
        for change in self.0.lock().unwrap().drain(..) {
            to.remote_presence(from, &change);
        }
    }
}

fn statuses(frames: &[String]) -> Vec<&'static str> {
    frames
        .iter()
        .filter_map(|f| {
            if f.contains(r#""status":"online""#) {
                Some("online")
            } else if f.contains(r#""status":"offline""#) {
                Some("offline")
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn clustered_hubs_announce_a_user_with_tabs_on_both_once_online_and_once_offline() {
    let (to_b, to_a) = (Recorded::default(), Recorded::default());
    let a = Hub::clustered(Box::new(to_b.clone()), "a");
    let b = Hub::clustered(Box::new(to_a.clone()), "b");
    let mut watcher_a = register(&a, "wa");
    let mut watcher_b = register(&b, "wb");
    a.join(&"r".into(), &watcher_a.conn);
    b.join(&"r".into(), &watcher_b.conn);
    to_b.deliver("a", &b);
    to_a.deliver("b", &a);
    drain(&mut watcher_a.outbound);
    drain(&mut watcher_b.outbound);

    let tab_a = register(&a, "u");
    let online = a.join(&"r".into(), &tab_a.conn);
    to_b.deliver("a", &b);
    assert_eq!(online.len(), 3, "wa, wb and u: {online:?}");
    let tab_b = register(&b, "u");
    b.join(&"r".into(), &tab_b.conn);
    to_a.deliver("b", &a);
    assert_eq!(statuses(&drain(&mut watcher_a.outbound)), ["online"]);
    assert_eq!(statuses(&drain(&mut watcher_b.outbound)), ["online"]);

    a.unregister(&tab_a.conn, ["r".into()]);
    to_b.deliver("a", &b);
    assert!(statuses(&drain(&mut watcher_a.outbound)).is_empty());
    assert!(statuses(&drain(&mut watcher_b.outbound)).is_empty());
    assert!(a.is_online(&"u".into()), "still connected to b");

    b.unregister(&tab_b.conn, ["r".into()]);
    to_a.deliver("b", &a);
    assert_eq!(statuses(&drain(&mut watcher_a.outbound)), ["offline"]);
    assert_eq!(statuses(&drain(&mut watcher_b.outbound)), ["offline"]);
    assert!(!a.is_online(&"u".into()) && !b.is_online(&"u".into()));
    assert_eq!(a.room_online(&"r".into()).len(), 2);
}

#[test]
fn a_full_queue_closes_only_the_slow_connection() {
    let hub = Hub::default();
    let slow = register(&hub, "slow");
    let mut fast = register(&hub, "fast");
    hub.join(&"r".into(), &slow.conn);
    hub.join(&"r".into(), &fast.conn);
    drain(&mut fast.outbound);
    for _ in 0..OUTBOUND_QUEUE + 1 {
        hub.publish(
            Audience::Room("r".into()),
            &ServerFrame::Pong(Default::default()),
        );
        drain(&mut fast.outbound);
    }
    assert_eq!(*slow.close_requests.borrow(), Some(close_code::TOO_SLOW));
    assert_eq!(*fast.close_requests.borrow(), None);
}

#[test]
fn removal_from_a_group_unsubscribes_every_connection_of_the_user() {
    let hub = Hub::default();
    let mut kicked = register(&hub, "k");
    hub.join(&"g".into(), &kicked.conn);
    hub.membership_changed(&"g".into(), &"k".into(), MembershipChange::Removed);
    let frames = drain(&mut kicked.outbound);
    assert!(
        frames
            .iter()
            .any(|f| f.contains(r#""type":"membership""#) && f.contains("removed")),
        "{frames:?}"
    );
    hub.publish(
        Audience::Room("g".into()),
        &ServerFrame::Pong(Default::default()),
    );
    assert!(drain(&mut kicked.outbound).is_empty());
}
