//! The `tracing` feature: one span per `Server::close_phase`, named for its
//! phase, and one event saying how it ended, with counts only. A binary of
//! its own (Cargo.toml says why), with one test.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use rand_core::SeedableRng;
use secagg::simulation::{Dropouts, run};
use secagg::{Graph, Params};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Every span and event as `name {field=value ...}`, in order.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut f = Fields(format!("span {}", span.metadata().name()));
        span.record(&mut f);
        let mut log = self.0.lock().unwrap();
        log.push(f.0);
        Id::from_u64(log.len() as u64)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut f = Fields(format!("event {}", event.metadata().level()));
        event.record(&mut f);
        self.0.lock().unwrap().push(f.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn every_phase_close_has_a_span_and_an_outcome_event() {
    let params = Params::new(4, 3, 32, 8, Graph::Complete).unwrap();
    let inputs: Vec<Vec<u64>> = (0..4u64).map(|i| vec![1_000 + i; 8]).collect();
    let dropouts = Dropouts {
        after_shares: vec![4],
        ..Dropouts::default()
    };
    let rec = Recorder::default();
    let report = tracing::subscriber::with_default(rec.clone(), || {
        run(
            &params,
            &inputs,
            &dropouts,
            &mut chacha20::ChaCha20Rng::seed_from_u64(5),
        )
    });
    assert_eq!(
        report.result.as_ref().map(|a| a.survivors.clone()),
        Ok(vec![1, 2, 3])
    );
    let log = rec.0.lock().unwrap().clone();
    let spans: Vec<&String> = log.iter().filter(|l| l.starts_with("span")).collect();
    assert_eq!(
        spans,
        [
            "span secagg.close_phase phase=Some(AdvertiseKeys) pending=0",
            "span secagg.close_phase phase=Some(ShareKeys) pending=0",
            "span secagg.close_phase phase=Some(MaskedInput) pending=1",
            "span secagg.close_phase phase=Some(Unmask) pending=0",
        ]
    );
    let events: Vec<&String> = log.iter().filter(|l| l.starts_with("event")).collect();
    assert_eq!(events.len(), 4);
    assert!(events[0].contains("message=phase closed messages=4 excluded=0"));
    assert!(events[2].contains("next=Some(Unmask)"));
    assert!(
        events[3].contains("message=round done survivors=3 misbehaved=0"),
        "{}",
        events[3]
    );
    // Counts only: no input value reaches the log.
    assert!(!log.iter().any(|l| l.contains("1000") || l.contains("1001")));
}
