//! The `tracing` feature: each incarnation runs in a root `service` span with `name` and
//! `instance` fields that follows from the starter's span; restarts are logged.

use std::cell::RefCell;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use tracing_core::span::Current;
use vigil_supervisor::{Backoff, ChildSpec, Supervisor};

/// One span as the recording subscriber saw it.
#[derive(Debug, Clone)]
struct SpanRecord {
    id: u64,
    metadata: &'static Metadata<'static>,
    name: &'static str,
    is_root: bool,
    fields: Vec<String>,
    follows_from: Vec<u64>,
}

#[derive(Default)]
struct Recorded {
    spans: Vec<SpanRecord>,
    /// Each event's fields, and the span it happened in.
    events: Vec<(String, Option<u64>)>,
}

thread_local! {
    /// The spans entered on this thread, innermost last.
    static ENTERED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// A minimal subscriber that keeps every span, follows-from link and event message.
#[derive(Clone, Default)]
struct Recorder {
    next_id: Arc<AtomicU64>,
    recorded: Arc<Mutex<Recorded>>,
}

struct Fields(Vec<String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push(format!("{}={value:?}", field.name()));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        // Relaxed: a unique number is all that is needed; no other memory is published.
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = Fields(Vec::new());
        attributes.record(&mut fields);
        self.recorded.lock().unwrap().spans.push(SpanRecord {
            id,
            metadata: attributes.metadata(),
            name: attributes.metadata().name(),
            is_root: attributes.is_root(),
            fields: fields.0,
            follows_from: Vec::new(),
        });
        Id::from_u64(id)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, span: &Id, follows: &Id) {
        let mut recorded = self.recorded.lock().unwrap();
        let record = recorded
            .spans
            .iter_mut()
            .find(|record| record.id == span.into_u64())
            .unwrap();
        record.follows_from.push(follows.into_u64());
    }

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(Vec::new());
        event.record(&mut fields);
        let inside = ENTERED.with(|entered| entered.borrow().last().copied());
        let mut recorded = self.recorded.lock().unwrap();
        recorded.events.push((fields.0.join(" "), inside));
    }

    /// What `Span::current()` returns: the innermost span entered on this thread.
    fn current_span(&self) -> Current {
        let Some(id) = ENTERED.with(|entered| entered.borrow().last().copied()) else {
            return Current::none();
        };
        let recorded = self.recorded.lock().unwrap();
        let record = recorded.spans.iter().find(|span| span.id == id).unwrap();
        Current::new(Id::from_u64(id), record.metadata)
    }

    fn enter(&self, span: &Id) {
        ENTERED.with(|entered| entered.borrow_mut().push(span.into_u64()));
    }

    fn exit(&self, span: &Id) {
        ENTERED.with(|entered| {
            let popped = entered.borrow_mut().pop();
            assert_eq!(popped, Some(span.into_u64()));
        });
    }
}

#[test]
fn incarnations_run_in_root_service_spans_that_follow_from_the_starter() {
    let recorder = Recorder::default();
    tracing::subscriber::set_global_default(recorder.clone()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let supervisor = Supervisor::builder().build(runtime.handle());

    let starter = tracing::info_span!("starter");
    let starter_id = starter.id().unwrap().into_u64();
    starter.in_scope(|| {
        supervisor.start(
            ChildSpec::new("traced", move |ctx| async move {
                tracing::info!("incarnation running");
                if ctx.restarts() == 0 {
                    return Err("first run fails");
                }
                ctx.shutdown_requested().await;
                Ok(())
            })
            .backoff(Backoff::none()),
        );
    });
    drop(starter);
    let report = runtime.block_on(async {
        tokio::task::yield_now().await;
        supervisor.stop().await
    });
    assert_eq!(report.endings().len(), 2);

    let recorded = recorder.recorded.lock().unwrap();
    let services: Vec<&SpanRecord> = recorded
        .spans
        .iter()
        .filter(|span| span.name == "service")
        .collect();
    assert_eq!(services.len(), 2);
    for (instance, span) in services.iter().enumerate() {
        assert!(span.is_root, "{span:?}");
        assert_eq!(
            span.fields,
            ["name=\"traced\"".to_owned(), format!("instance={instance}")]
        );
        // The restart is started by the supervisor's task, still on behalf of the starter.
        assert_eq!(span.follows_from, [starter_id]);
    }
    // Each incarnation ran inside its own span.
    let ids: Vec<Option<u64>> = services.iter().map(|span| Some(span.id)).collect();
    let inside: Vec<Option<u64>> = recorded
        .events
        .iter()
        .filter(|(fields, _)| fields.contains("incarnation running"))
        .map(|&(_, span)| span)
        .collect();
    assert_eq!(inside, ids);
    assert!(
        recorded
            .events
            .iter()
            .any(|(fields, _)| fields.contains("service restarted")),
        "{:?}",
        recorded.events
    );
}
