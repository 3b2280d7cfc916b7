//! Recordings: written then replayed through the live path give the same frames; cut,
//! foreign and future files are refused with what is wrong.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;

use super::*;
use crate::feed::{self, Kind, Outcome, Source};
use crate::fleet::tests::Target;
use crate::fleet::Fleet;
use crate::poller::Update;
use crate::replay::Player;
use crate::state::App;
use crate::ui::{self, Theme};

/// A fresh path in the temp directory (removed by the test when it passes).
fn temp_path(what: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "vigil-top-{what}-{}-{}.rec",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

fn header(sources: Vec<SourceSpec>) -> Header {
    Header {
        target: "two processes".to_owned(),
        interval_ns: 100_000_000,
        stuck_after_ns: 1_000_000_000,
        sources,
    }
}

fn frame(view: &App) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(150, 40)).expect("terminal");
    terminal
        .draw(|frame| ui::draw(frame, view, Theme { color: true }))
        .expect("draw");
    terminal.backend().buffer().clone()
}

#[test]
fn record_then_replay_gives_the_same_frames() {
    let first = Target::serve("ingest");
    let second = Target::serve("flusher");
    let specs = vec![first.spec(), second.spec()];
    let sources: Vec<Source> = specs
        .iter()
        .map(|spec| Source::new(spec, Duration::from_secs(5)))
        .collect();
    let path = temp_path("frames");
    let header = header(specs.clone());
    let mut recorder = Recorder::create(&path, &header).expect("create");

    // Live: fetch, record, ingest, draw; six rounds.
    let started = Instant::now();
    let mut fleet = Fleet::new(
        &specs,
        header.target.clone(),
        Duration::from_millis(100),
        Duration::from_secs(1),
        started,
    );
    let mut view = App::new(header.target.clone(), Duration::from_millis(100), started);
    let mut live_frames = Vec::new();
    for round in 0..6 {
        if round == 3 {
            // One process goes away mid-recording.
            second.stop();
        }
        for source in &sources {
            let raw = source.fetch();
            let at = started.elapsed();
            recorder.record(&raw, at).expect("record");
            fleet.on_decoded(feed::decode(&raw), started + at);
            fleet.show(&mut view);
            live_frames.push(frame(&view));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    recorder.finish().expect("finish");
    assert!(
        format!("{:?}", live_frames.last()).contains("down"),
        "the stopped process is marked down"
    );

    // Replay through the player, as `--replay` does.
    let recording = read(&path).expect("read back");
    assert_eq!(recording.header, header);
    assert_eq!(recording.records.len(), 12);
    let replay_started = Instant::now();
    let mut fleet = Fleet::new(
        &recording.header.sources,
        header.target.clone(),
        Duration::from_millis(100),
        Duration::from_secs(1),
        replay_started,
    );
    let mut view = App::new(
        header.target.clone(),
        Duration::from_millis(100),
        replay_started,
    );
    let (sender, updates) = mpsc::channel();
    let _player = Player::spawn(recording.records, replay_started, sender);
    for (index, live) in live_frames.iter().enumerate() {
        let Ok(Update::Fetched(_, decoded, at)) = updates.recv_timeout(Duration::from_secs(30))
        else {
            panic!("fetch {index} was not replayed");
        };
        fleet.on_decoded(decoded, at);
        fleet.show(&mut view);
        assert_eq!(&frame(&view), live, "frame {index} differs");
    }
    let _ = std::fs::remove_file(&path);
}

/// A recording of `records` sample fetches, left as a killed process leaves it (no end
/// of stream) when `killed`.
fn write_sample(path: &Path, records: usize, killed: bool) {
    let spec = SourceSpec {
        kind: Kind::Snapshot,
        url: "http://h:1/snapshot.json".to_owned(),
    };
    let mut recorder = Recorder::create(path, &header(vec![spec.clone()])).expect("create");
    for index in 0..records {
        let fetch = RawFetch {
            source: spec.url.clone(),
            kind: Kind::Snapshot,
            outcome: Outcome::Body(crate::model::SAMPLE.replace("consumer", &format!("c{index}"))),
        };
        recorder
            .record(&fetch, Duration::from_millis(100 * index as u64))
            .expect("record");
    }
    if killed {
        // What SIGKILL leaves: every record flushed, the stream never ended.
        std::mem::forget(recorder);
    } else {
        recorder.finish().expect("finish");
    }
}

#[test]
fn a_recording_cut_anywhere_is_truncated_at_the_record_it_ends_in() {
    let path = temp_path("whole");
    write_sample(&path, 3, false);
    let whole = std::fs::read(&path).expect("read");
    assert_eq!(read(&path).expect("whole").records.len(), 3);
    let magic = MAGIC.len() + 2;
    let cut = temp_path("cut");
    for length in magic..whole.len() {
        std::fs::write(&cut, &whole[..length]).expect("write");
        match read(&cut) {
            Err(error @ RecordingError::Truncated { .. }) => {
                let text = error.to_string();
                assert!(text.contains("is truncated at record "), "{text}");
            }
            other => panic!("cut at {length} of {}: {other:?}", whole.len()),
        }
    }
    // Killed while recording: every record is there, the end is not.
    write_sample(&cut, 3, true);
    let error = read(&cut).expect_err("no end of stream");
    assert_eq!(
        error.to_string(),
        format!(
            "{} is truncated at record 4: the recording was cut short (3 record(s) before it are whole)",
            cut.display()
        )
    );
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&cut);
}

#[test]
fn foreign_files_and_other_versions_are_named_as_such() {
    let path = temp_path("foreign");
    let error = |bytes: &[u8]| {
        std::fs::write(&path, bytes).expect("write");
        read(&path).expect_err("not a recording").to_string()
    };
    let text = error(b"{\"schema_version\": 2}\n");
    assert!(
        text.contains("is not a vigil-top recording (it starts with `{\"schema_version\": 2}.`"),
        "{text}"
    );
    assert!(
        text.contains("a recording starts with `vigil-top recording 1`"),
        "{text}"
    );
    assert!(error(&[0x1f, 0x8b, 8, 0])
        .contains("a gzip header: a compressed file, but not a recording"));
    assert!(error(b"").contains("nothing: it is empty"));
    let text = error(b"vigil-top recording 7\n...");
    assert!(
        text.ends_with(
            "unsupported vigil-top recording version 7 (this vigil-top reads version 1)"
        ),
        "{text}"
    );
    // The right magic, then a header that is not one.
    let mut bytes = format!("{MAGIC}{VERSION}\n").into_bytes();
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(b"not json\n").expect("compress");
    bytes.extend(encoder.finish().expect("compress"));
    let text = error(&bytes);
    assert!(text.contains("record 0 is malformed"), "{text}");
    let missing = read(Path::new("/nonexistent/vigil-top.rec")).expect_err("no file");
    assert!(
        missing
            .to_string()
            .starts_with("/nonexistent/vigil-top.rec: "),
        "{missing}"
    );
    let _ = std::fs::remove_file(&path);
}
