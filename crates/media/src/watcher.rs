//! Hot-plug: re-list devices periodically and report what changed.
//!
//! Neither V4L2 nor ALSA gives a portable change notification without extra system services,
//! so the watcher polls (cheap: a directory scan and an ALSA hint walk).

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::devices::{all_devices, DeviceInfo, DeviceKind};
use crate::events::MediaEvent;

/// Compare two device lists (sans-I/O, so it is testable).
pub fn diff_devices(old: &[DeviceInfo], new: &[DeviceInfo]) -> Vec<MediaEvent> {
    let mut events = Vec::new();
    for d in new {
        if !old.iter().any(|o| o.id == d.id && o.kind == d.kind) {
            events.push(MediaEvent::DeviceAdded { device: d.clone() });
        }
    }
    for d in old {
        if !new.iter().any(|n| n.id == d.id && n.kind == d.kind) {
            events.push(MediaEvent::DeviceRemoved { device: d.clone() });
        }
    }
    for kind in [
        DeviceKind::Camera,
        DeviceKind::Microphone,
        DeviceKind::Speaker,
    ] {
        let def = |l: &[DeviceInfo]| {
            l.iter()
                .find(|d| d.kind == kind && d.is_default)
                .map(|d| d.id.clone())
        };
        let (a, b) = (def(old), def(new));
        if a != b {
            events.push(MediaEvent::DefaultDeviceChanged { kind, id: b });
        }
    }
    events
}

/// Background poller; stops when dropped.
#[derive(Debug)]
pub struct DeviceWatcher {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl DeviceWatcher {
    /// Start polling every `interval`. The first list is taken before this returns and is
    /// returned with the event receiver.
    pub fn start(interval: Duration) -> (DeviceWatcher, Vec<DeviceInfo>, Receiver<MediaEvent>) {
        Self::start_with(interval, all_devices)
    }

    /// As [`start`](Self::start) with a custom lister (tests, or a filtered view).
    pub fn start_with<F>(
        interval: Duration,
        mut list: F,
    ) -> (DeviceWatcher, Vec<DeviceInfo>, Receiver<MediaEvent>)
    where
        F: FnMut() -> Vec<DeviceInfo> + Send + 'static,
    {
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (ev_tx, ev_rx) = mpsc::channel();
        let first = list();
        let mut current = first.clone();
        let thread = std::thread::Builder::new()
            .name("device watcher".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stop_rx.recv_timeout(interval) {
                    let now = list();
                    for ev in diff_devices(&current, &now) {
                        if ev_tx.send(ev).is_err() {
                            return;
                        }
                    }
                    current = now;
                }
            })
            .ok();
        if thread.is_none() {
            tracing::warn!("could not start the device watcher thread; hot-plug is off");
        }
        (
            DeviceWatcher {
                stop: Some(stop_tx),
                thread,
            },
            first,
            ev_rx,
        )
    }
}

impl Drop for DeviceWatcher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn dev(id: &str, kind: DeviceKind, is_default: bool) -> DeviceInfo {
        DeviceInfo {
            id: id.into(),
            name: id.to_uppercase(),
            kind,
            is_default,
        }
    }

    #[test]
    fn diff_reports_added_removed_and_default() {
        let old = vec![
            dev("camera:0", DeviceKind::Camera, true),
            dev("alsa:hw0", DeviceKind::Microphone, true),
        ];
        let new = vec![
            dev("alsa:hw0", DeviceKind::Microphone, false),
            dev("alsa:usb", DeviceKind::Microphone, true),
        ];
        let ev = diff_devices(&old, &new);
        assert!(ev.contains(&MediaEvent::DeviceAdded {
            device: new[1].clone()
        }));
        assert!(ev.contains(&MediaEvent::DeviceRemoved {
            device: old[0].clone()
        }));
        assert!(ev.contains(&MediaEvent::DefaultDeviceChanged {
            kind: DeviceKind::Microphone,
            id: Some("alsa:usb".into())
        }));
        assert!(ev.contains(&MediaEvent::DefaultDeviceChanged {
            kind: DeviceKind::Camera,
            id: None
        }));
        assert!(diff_devices(&new, &new).is_empty());
    }

    #[test]
    fn watcher_emits_when_a_device_vanishes() {
        let devices = Arc::new(Mutex::new(vec![dev("camera:0", DeviceKind::Camera, true)]));
        let d2 = devices.clone();
        let (w, first, rx) =
            DeviceWatcher::start_with(Duration::from_millis(5), move || d2.lock().unwrap().clone());
        assert_eq!(first.len(), 1);
        devices.lock().unwrap().clear();
        let ev = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(
            matches!(ev, MediaEvent::DeviceRemoved { ref device } if device.id == "camera:0"),
            "{ev:?}"
        );
        drop(w);
    }

    #[test]
    fn real_watcher_starts_and_stops() {
        let (w, first, _rx) = DeviceWatcher::start(Duration::from_millis(50));
        assert!(first.iter().all(|d| !d.id.is_empty()));
        drop(w);
    }
}
