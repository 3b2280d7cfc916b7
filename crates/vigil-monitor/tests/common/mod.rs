//! Shared test harness: a scripted future on a `MockClock`, and a counting waker.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use vigil_monitor::{MockClock, PollMonitor, ServiceMonitor, Ticks};

/// An executor's waker that only counts its wakes.
#[derive(Debug, Default)]
pub(crate) struct CountingWaker {
    wakes: AtomicUsize,
}

impl CountingWaker {
    /// A new counting waker and a `Waker` for it.
    pub(crate) fn new() -> (Arc<Self>, Waker) {
        let counter = Arc::new(Self::default());
        let waker = Waker::from(Arc::clone(&counter));
        (counter, waker)
    }

    /// Wakes so far.
    pub(crate) fn wakes(&self) -> usize {
        // SeqCst: tests read it after joining or on the waking thread; the strongest is simplest.
        self.wakes.load(Ordering::SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // SeqCst: see `wakes`.
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

/// What the next poll of a [`scripted`] future does.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PollPlan {
    /// Ticks of mock time the poll takes.
    pub(crate) busy: Ticks,
    /// Wake its own waker this many ticks into the poll (at most `busy`).
    pub(crate) self_wake_at: Option<Ticks>,
    /// Panic at the end of the poll.
    pub(crate) panic: bool,
}

/// Controls a [`scripted`] future from the test.
#[derive(Debug, Clone)]
pub(crate) struct Script {
    pub(crate) clock: MockClock,
    plan: Arc<Mutex<PollPlan>>,
    parked: Arc<Mutex<Option<Waker>>>,
    polls: Arc<AtomicUsize>,
}

/// A never-ending future whose every poll follows the script's current [`PollPlan`] and parks
/// a clone of the waker it was given.
pub(crate) fn scripted(clock: &MockClock) -> (Pin<Box<dyn Future<Output = ()> + Send>>, Script) {
    let script = Script {
        clock: clock.clone(),
        plan: Arc::default(),
        parked: Arc::default(),
        polls: Arc::default(),
    };
    let inner = script.clone();
    let future = std::future::poll_fn(move |cx: &mut Context<'_>| {
        let plan = *inner.plan.lock().unwrap();
        *inner.parked.lock().unwrap() = Some(cx.waker().clone());
        // SeqCst: a plain counter read by the test thread.
        inner.polls.fetch_add(1, Ordering::SeqCst);
        match plan.self_wake_at {
            Some(at) => {
                inner.clock.advance_ticks(at);
                cx.waker().wake_by_ref();
                inner.clock.advance_ticks(plan.busy - at);
            }
            None => inner.clock.advance_ticks(plan.busy),
        }
        if plan.panic {
            panic!("scripted panic");
        }
        Poll::Pending
    });
    (Box::pin(future), script)
}

impl Script {
    /// Sets what the next polls do.
    pub(crate) fn plan(&self, plan: PollPlan) {
        *self.plan.lock().unwrap() = plan;
    }

    /// The waker the inner future saw in its latest poll.
    pub(crate) fn parked_waker(&self) -> Waker {
        self.parked.lock().unwrap().clone().expect("not polled yet")
    }

    /// Wakes the waker the inner future saw in its latest poll.
    pub(crate) fn wake(&self) {
        self.parked_waker().wake();
    }

    /// Polls the inner future has seen.
    pub(crate) fn polls(&self) -> usize {
        // SeqCst: see `scripted`.
        self.polls.load(Ordering::SeqCst)
    }
}

/// The monitored scripted future.
pub(crate) type Monitored<M> =
    Pin<Box<ServiceMonitor<Pin<Box<dyn Future<Output = ()> + Send>>, M, MockClock>>>;

/// Wraps a scripted future in `monitor`.
pub(crate) fn monitored<M: PollMonitor>(clock: &MockClock, monitor: M) -> (Monitored<M>, Script) {
    let (future, script) = scripted(clock);
    (
        Box::pin(ServiceMonitor::with_monitor(future, monitor, clock.clone())),
        script,
    )
}

/// Polls once with `waker` as the executor's waker; the poll lasts `busy` ticks.
pub(crate) fn poll_with<M: PollMonitor>(
    monitored: &mut Monitored<M>,
    script: &Script,
    waker: &Waker,
    plan: PollPlan,
) {
    script.plan(plan);
    let poll = monitored.as_mut().poll(&mut Context::from_waker(waker));
    assert!(poll.is_pending());
}

/// Polls once with a no-op executor waker; the poll lasts `busy` ticks.
pub(crate) fn poll_busy<M: PollMonitor>(
    monitored: &mut Monitored<M>,
    script: &Script,
    busy: Ticks,
) {
    poll_with(
        monitored,
        script,
        Waker::noop(),
        PollPlan {
            busy,
            ..PollPlan::default()
        },
    );
}
