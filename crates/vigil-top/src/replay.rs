//! `--replay FILE`: a thread that plays a recording's fetches back at their recorded pace
//! (or faster, slower, paused, one step at a time) as the same updates the pollers send.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::feed;
use crate::poller::Update;
use crate::recording::Record;
use crate::state::ReplayStatus;

/// The speeds `+` and `-` step through.
pub(crate) const SPEEDS: [f64; 9] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

/// What the keys ask of the player.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    /// Space: pause, or resume.
    TogglePause,
    /// `.` or `n`: play the next fetch now (and pause).
    Step,
    /// `+`: the next speed up.
    Faster,
    /// `-`: the next speed down.
    Slower,
}

/// The fetch `record` as the update a poller would have sent, at the instant it arrived
/// while recording (`epoch` is the replaying dashboard's start).
pub(crate) fn update_of(record: &Record, epoch: Instant) -> Update {
    Update::Fetched(
        record.fetch.clone(),
        feed::decode(&record.fetch),
        epoch + record.at(),
    )
}

/// The playing thread; dropping it stops the thread.
#[derive(Debug)]
pub(crate) struct Player {
    control: Option<Sender<Control>>,
    status: Arc<Mutex<ReplayStatus>>,
}

impl Player {
    /// Plays `records` into `updates`, the first right away.
    pub(crate) fn spawn(records: Vec<Record>, epoch: Instant, updates: Sender<Update>) -> Self {
        let (control, control_rx) = mpsc::channel();
        let status = Arc::new(Mutex::new(ReplayStatus {
            played: 0,
            total: records.len(),
            speed: 1.0,
            paused: false,
        }));
        let shared = Arc::clone(&status);
        std::thread::Builder::new()
            .name("vigil-top-replay".to_owned())
            .spawn(move || play(&records, epoch, &control_rx, &updates, &shared))
            .expect("spawning the replay thread");
        Self {
            control: Some(control),
            status,
        }
    }

    /// Passes a key's wish on.
    pub(crate) fn control(&self, control: Control) {
        if let Some(sender) = &self.control {
            // The thread ends only when this player is dropped.
            let _ = sender.send(control);
        }
    }

    /// Where the replay is now.
    pub(crate) fn status(&self) -> ReplayStatus {
        self.status
            .lock()
            .map_or_else(|poisoned| *poisoned.into_inner(), |status| *status)
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        self.control.take();
    }
}

/// The next speed along [`SPEEDS`].
fn step_speed(speed: f64, faster: bool) -> f64 {
    let next = if faster {
        SPEEDS.iter().find(|step| **step > speed)
    } else {
        SPEEDS.iter().rev().find(|step| **step < speed)
    };
    next.copied().unwrap_or(speed)
}

fn play(
    records: &[Record],
    epoch: Instant,
    control: &mpsc::Receiver<Control>,
    updates: &Sender<Update>,
    status: &Mutex<ReplayStatus>,
) {
    let mut next = 0;
    let (mut speed, mut paused) = (1.0f64, false);
    // Recorded time `anchor_at` is played at wall time `anchor_wall`.
    let mut anchor_wall = Instant::now();
    let mut anchor_at = records.first().map_or(Duration::ZERO, Record::at);
    loop {
        if let Ok(mut shared) = status.lock() {
            *shared = ReplayStatus {
                played: next,
                total: records.len(),
                speed,
                paused,
            };
        }
        let wait = match records.get(next) {
            Some(record) if !paused => {
                let due = anchor_wall + record.at().saturating_sub(anchor_at).div_f64(speed);
                Some(due.saturating_duration_since(Instant::now()))
            }
            // Paused, or at the end: only keys move it.
            _ => None,
        };
        let received = match wait {
            Some(wait) => control.recv_timeout(wait),
            None => control.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let now = Instant::now();
        match received {
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) | Ok(Control::Step) => {
                let Some(record) = records.get(next) else {
                    continue;
                };
                if received == Ok(Control::Step) {
                    paused = true;
                }
                if updates.send(update_of(record, epoch)).is_err() {
                    return;
                }
                next += 1;
                if paused {
                    anchor_wall = now;
                    anchor_at = record.at();
                }
            }
            Ok(Control::TogglePause) => {
                paused = !paused;
                // Resuming plays the next fetch after its recorded gap from the last one.
                anchor_wall = now;
                anchor_at = next
                    .checked_sub(1)
                    .and_then(|last| records.get(last))
                    .map_or(anchor_at, Record::at);
            }
            Ok(Control::Faster | Control::Slower) => {
                // Where the recording is now, at the old speed; the new one goes on from it.
                if !paused {
                    anchor_at += now.saturating_duration_since(anchor_wall).mul_f64(speed);
                    anchor_wall = now;
                }
                speed = step_speed(speed, received == Ok(Control::Faster));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_step_and_stop_at_the_ends() {
        assert_eq!(step_speed(1.0, true), 2.0);
        assert_eq!(step_speed(1.0, false), 0.5);
        assert_eq!(step_speed(64.0, true), 64.0);
        assert_eq!(step_speed(0.25, false), 0.25);
    }
}
