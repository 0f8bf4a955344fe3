//! Events to containerd, in the order they are queued: one thread forwards them over the
//! ttrpc publisher, so an RPC never waits on containerd and TaskStart is always sent before
//! the TaskExit that follows it (both are queued under the process table's lock).

use crate::shim_api::pb::{Context, MessageDyn};
use crate::shim_api::RemotePublisher;
use std::sync::mpsc::{channel, Sender};
use std::sync::Mutex;
use std::time::Duration;

enum Item {
    Event(&'static str, Box<dyn MessageDyn + Send>),
    Flush(Sender<()>),
}

/// The sending side; cheap to share behind the service.
pub struct EventQueue {
    tx: Mutex<Sender<Item>>,
}

impl EventQueue {
    /// Starts the forwarding thread for `namespace`.
    pub fn start(publisher: RemotePublisher, namespace: String) -> EventQueue {
        let (tx, rx) = channel::<Item>();
        std::thread::spawn(move || {
            for item in rx {
                match item {
                    Item::Event(topic, event) => {
                        let event: Box<dyn MessageDyn> = event;
                        if let Err(e) =
                            publisher.publish(Context::default(), topic, &namespace, event)
                        {
                            log::warn!("publish {topic}: {e}");
                        }
                    }
                    Item::Flush(done) => {
                        let _ = done.send(());
                    }
                }
            }
        });
        EventQueue { tx: Mutex::new(tx) }
    }

    /// Queues `event` under `topic`.
    pub fn send(&self, topic: &'static str, event: Box<dyn MessageDyn + Send>) {
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let _ = tx.send(Item::Event(topic, event));
    }

    /// Waits (at most `limit`) until everything queued so far has been forwarded.
    pub fn flush(&self, limit: Duration) {
        let (done_tx, done_rx) = channel();
        {
            let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
            if tx.send(Item::Flush(done_tx)).is_err() {
                return;
            }
        }
        let _ = done_rx.recv_timeout(limit);
    }
}
