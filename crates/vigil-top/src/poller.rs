//! The background threads: a fetch of one source every interval (then, for an endpoint,
//! the stacks when a stuck service is shown), and profiles, each on a thread of its own.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::feed::{self, Decoded, RawFetch, Source};
use crate::source::{ProfileFailure, ProfileFetched, StacksError, StacksFetched};
use crate::stacks::StackInterest;

/// What the fetch threads send the UI.
#[derive(Debug)]
pub(crate) enum Update {
    /// One fetch of one source as it came (what `--record` writes), decoded, with the
    /// instant it finished (a replay's: when it finished while recording).
    Fetched(RawFetch, Decoded, Instant),
    /// The stacks fetched right after a document that showed a stuck service.
    Stacks(StacksFetched),
    /// A profile the `p` key asked for.
    Profile(ProfileFetched),
}

/// A background thread fetching one source every interval until its receiver or
/// controller is dropped.
///
/// After an endpoint's document whose stuck service the detail pane shows (see
/// [`StackInterest`]), the same thread fetches the stacks once; after a `404` it never
/// asks for them again.
#[derive(Debug)]
pub(crate) struct Poller {
    /// Sends a new interval; dropping it stops the thread.
    control: Option<Sender<Duration>>,
    thread: Option<JoinHandle<()>>,
    interest: Arc<Mutex<StackInterest>>,
    /// For profiles, each on a thread of its own.
    source: Source,
    updates: Sender<Update>,
}

impl Poller {
    /// Starts fetching `source` right away, then every `interval`; results go to
    /// `updates` (several pollers may share it). `stuck_after` is the threshold the UI
    /// marks STUCK with.
    pub(crate) fn spawn(
        source: Source,
        interval: Duration,
        stuck_after: Duration,
        updates: Sender<Update>,
    ) -> Self {
        let (control, control_rx) = mpsc::channel::<Duration>();
        let interest = Arc::new(Mutex::new(StackInterest::None));
        let thread = {
            let source = source.clone();
            let updates = updates.clone();
            let interest = Arc::clone(&interest);
            std::thread::Builder::new()
                .name("vigil-top-poller".to_owned())
                .spawn(move || {
                    poll_loop(
                        &source,
                        interval,
                        stuck_after,
                        &control_rx,
                        &updates,
                        &interest,
                    );
                })
                .expect("spawning the poller thread")
        };
        Self {
            control: Some(control),
            thread: Some(thread),
            interest,
            source,
            updates,
        }
    }

    /// Changes the interval from the next fetch on.
    pub(crate) fn set_interval(&self, interval: Duration) {
        if let Some(control) = &self.control {
            // A closed channel means the thread is gone; nothing to tell it.
            let _ = control.send(interval);
        }
    }

    /// Says which service the detail pane shows, for the next refreshes.
    pub(crate) fn set_stack_interest(&self, interest: StackInterest) {
        // A poisoned lock means the thread panicked: there is no one left to tell.
        if let Ok(mut current) = self.interest.lock() {
            *current = interest;
        }
    }

    /// Records a profile of `seconds` on a thread of its own (the refreshes go on); its
    /// result arrives as [`Update::Profile`].
    pub(crate) fn start_profile(&self, seconds: u64) {
        let Source::Endpoint(client) = &self.source else {
            let failure = ProfileFailure::Failed("profiles need an endpoint".to_owned());
            let _ = self.updates.send(Update::Profile(Err(failure)));
            return;
        };
        let client = client.clone();
        let updates = self.updates.clone();
        let spawned = std::thread::Builder::new()
            .name("vigil-top-profile".to_owned())
            .spawn(move || {
                // The UI may have quit meanwhile: nobody to tell.
                let _ = updates.send(Update::Profile(client.fetch_profile(seconds)));
            });
        if let Err(error) = spawned {
            let failure = ProfileFailure::Failed(format!("cannot start a thread: {error}"));
            let _ = self.updates.send(Update::Profile(Err(failure)));
        }
    }
}

/// The poller thread's loop: a document every interval, then the stacks when wanted.
fn poll_loop(
    source: &Source,
    mut interval: Duration,
    stuck_after: Duration,
    control: &Receiver<Duration>,
    updates: &Sender<Update>,
    interest: &Mutex<StackInterest>,
) {
    let mut next = Instant::now();
    // Set by a 404 from the stacks route: the endpoint has no profiler, and will not grow
    // one while this process lives (a restarted target starts a new vigil-top session).
    let mut no_profiler = false;
    loop {
        match control.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Ok(new_interval) => {
                // The next fetch moves by the change (earlier when shortened).
                next = next
                    .checked_sub(interval)
                    .map_or(next, |start| start + new_interval);
                interval = new_interval;
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let raw = source.fetch();
        let decoded = feed::decode(&raw);
        let document = match &decoded.processes {
            Ok(processes) if processes.len() == 1 => processes[0].1.as_ref().ok(),
            _ => None,
        };
        let wants_stacks = !no_profiler
            && document.is_some_and(|document| {
                interest
                    .lock()
                    .is_ok_and(|interest| interest.wants_stacks(document, stuck_after))
            });
        if updates
            .send(Update::Fetched(raw, decoded, Instant::now()))
            .is_err()
        {
            return;
        }
        if let (true, Source::Endpoint(client)) = (wants_stacks, source) {
            let stacks = client.fetch_stacks();
            no_profiler = matches!(stacks, Err(StacksError::NoProfiler));
            if updates.send(Update::Stacks(stacks)).is_err() {
                return;
            }
        }
        next = Instant::now() + interval;
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        // Closing the control channel wakes the thread, which then returns (a fetch in
        // flight finishes first, bounded by the client's timeout; we do not wait for it).
        self.control.take();
        drop(self.thread.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::tests::serve;

    #[test]
    fn the_poller_fetches_stacks_only_while_a_stuck_service_is_shown_and_never_after_a_404() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let stacks_requests = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&stacks_requests);
        let url = serve(move |path| {
            if path.starts_with("/debug/stacks") {
                counted.fetch_add(1, Ordering::SeqCst);
                ("404 Not Found", "no profiler".to_owned())
            } else {
                ("200 OK", crate::model::SAMPLE.to_owned())
            }
        });
        let client = crate::source::Client::new(url, Duration::from_secs(5));
        let (sender, updates) = mpsc::channel();
        let poller = Poller::spawn(
            Source::Endpoint(client),
            Duration::from_millis(20),
            Duration::from_secs(1),
            sender,
        );
        let mut documents = 0;
        let mut receive = |until: usize| {
            while documents < until {
                match updates
                    .recv_timeout(Duration::from_secs(10))
                    .expect("an update")
                {
                    Update::Fetched(_, decoded, _) => {
                        let processes = decoded.processes.expect("a process");
                        assert!(processes[0].1.is_ok(), "a document");
                        documents += 1;
                    }
                    Update::Stacks(fetched) => {
                        assert!(matches!(fetched, Err(StacksError::NoProfiler)));
                    }
                    Update::Profile(_) => panic!("no profile was asked for"),
                }
            }
        };
        // Nothing shown yet: no stacks asked for.
        receive(3);
        assert_eq!(stacks_requests.load(Ordering::SeqCst), 0);
        // The pane shows the stuck service: asked once, 404, never again.
        poller.set_stack_interest(StackInterest::Service("stuck".to_owned()));
        receive(10);
        assert_eq!(stacks_requests.load(Ordering::SeqCst), 1);
    }
}
