//! Mailboxes that survive restarts: the receiver is leased to each incarnation and returned
//! when the incarnation ends, however it ends.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc::error::{SendError, TrySendError};
use tokio::sync::{mpsc, Notify};
use vigil_registry::{MailboxProbe, MailboxSnapshot};

use crate::mailbox_figures::Figures;

/// Where a service's receiver waits between two incarnations.
///
/// It is also the mailbox's [`MailboxProbe`]: the supervisor's registry watches the slot,
/// which lives exactly as long as the receiver (held by the spec's factory and by every
/// lease), so the figures leave the snapshots with the mailbox, even while addresses of
/// it remain.
pub(crate) struct Slot<M> {
    receiver: Mutex<Option<mpsc::Receiver<M>>>,
    returned: Notify,
    figures: Arc<Figures>,
}

impl<M> Slot<M> {
    /// A bounded channel of `capacity` whose receiver waits in the returned slot.
    pub(crate) fn channel(capacity: usize) -> (Addr<M>, Arc<Self>) {
        let (sender, receiver) = mpsc::channel(capacity);
        let figures = Arc::new(Figures::new(capacity));
        let slot = Arc::new(Self {
            receiver: Mutex::new(Some(receiver)),
            returned: Notify::new(),
            figures: figures.clone(),
        });
        (Addr { sender, figures }, slot)
    }

    fn take(&self) -> Option<mpsc::Receiver<M>> {
        // The lock is held for the swap only; poisoning cannot leave it half-updated.
        self.receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn put_back(&self, receiver: mpsc::Receiver<M>) {
        *self.receiver.lock().unwrap_or_else(PoisonError::into_inner) = Some(receiver);
        // `notify_one` stores a permit if nobody waits yet: a lease created before the
        // receiver came back cannot miss it.
        self.returned.notify_one();
    }
}

impl<M: Send + 'static> MailboxProbe for Slot<M> {
    fn read(&self) -> MailboxSnapshot {
        self.figures.read()
    }
}

/// An incarnation's lease on its service's mailbox: receives what was sent to the service's
/// [`Addr`], including messages sent while the service was down.
///
/// Dropping the lease (the incarnation returned, panicked, or was aborted) returns the
/// receiver to the supervisor for the next incarnation; nothing queued is lost. A message
/// that this incarnation had already taken out with [`recv`](Self::recv) is its own: if the
/// incarnation fails while handling it, it is gone.
pub struct Mailbox<M> {
    receiver: Option<mpsc::Receiver<M>>,
    slot: Arc<Slot<M>>,
    /// The slot's, at hand: counted at every receive.
    figures: Arc<Figures>,
}

impl<M> Mailbox<M> {
    /// Takes the receiver from `slot`, or waits for it in `recv` if a previous lease (e.g.
    /// moved into a task of the previous incarnation) has not been dropped yet.
    pub(crate) fn lease(slot: Arc<Slot<M>>) -> Self {
        Self {
            receiver: slot.take(),
            figures: slot.figures.clone(),
            slot,
        }
    }

    /// The next message; `None` once every [`Addr`] is dropped and the queue is empty.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe (like [`mpsc::Receiver::recv`]): if the future is dropped before it
    /// completes, no message is taken.
    pub async fn recv(&mut self) -> Option<M> {
        loop {
            if let Some(receiver) = &mut self.receiver {
                let message = receiver.recv().await;
                if message.is_some() {
                    self.figures.on_receive();
                }
                return message;
            }
            let returned = self.slot.returned.notified();
            self.receiver = self.slot.take();
            if self.receiver.is_none() {
                returned.await;
            }
        }
    }
}

impl<M> Drop for Mailbox<M> {
    fn drop(&mut self) {
        if let Some(receiver) = self.receiver.take() {
            self.slot.put_back(receiver);
        }
    }
}

impl<M> fmt::Debug for Mailbox<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailbox")
            .field("leased", &self.receiver.is_some())
            .finish_non_exhaustive()
    }
}

/// The address of a service with a mailbox: stays valid across restarts. Cheap to clone.
///
/// Sending fails only once the service has stopped for good (it ended without restart, gave
/// up, or the supervisor shut down) and its mailbox was dropped.
///
/// Every message sent and every [`try_send`](Self::try_send) refused for lack of room is
/// counted in the mailbox's figures, which the supervisor's registry reads at each snapshot
/// (`metrics().group(name).mailbox`; see `docs/supervision.md`, "Mailbox figures"): a
/// relaxed increment, a clock read and a store per message.
pub struct Addr<M> {
    sender: mpsc::Sender<M>,
    figures: Arc<Figures>,
}

impl<M> Addr<M> {
    /// Sends `message`, waiting for room if the mailbox is full.
    ///
    /// # Errors
    ///
    /// Returns the message if the service's mailbox is gone.
    ///
    /// # Cancel safety
    ///
    /// Like [`mpsc::Sender::send`]: if the future is dropped before it completes, the
    /// message was not sent (and is lost with the future).
    pub async fn send(&self, message: M) -> Result<(), SendError<M>> {
        // What `mpsc::Sender::send` does, with the message counted between room and queue.
        match self.sender.reserve().await {
            Ok(permit) => {
                self.figures.on_send();
                permit.send(message);
                Ok(())
            }
            Err(SendError(())) => Err(SendError(message)),
        }
    }

    /// Sends `message` if there is room now.
    ///
    /// # Errors
    ///
    /// Returns the message if the mailbox is full (counted as a rejection in the mailbox's
    /// figures) or gone (not counted).
    pub fn try_send(&self, message: M) -> Result<(), TrySendError<M>> {
        match self.sender.try_reserve() {
            Ok(permit) => {
                self.figures.on_send();
                permit.send(message);
                Ok(())
            }
            Err(TrySendError::Full(())) => {
                self.figures.on_reject();
                Err(TrySendError::Full(message))
            }
            Err(TrySendError::Closed(())) => Err(TrySendError::Closed(message)),
        }
    }

    /// `true` once the service's mailbox is gone (no incarnation will receive again).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }
}

impl<M> Clone for Addr<M> {
    fn clone(&self) -> Self {
        Self {
            sender: self.sender.clone(),
            figures: self.figures.clone(),
        }
    }
}

impl<M> fmt::Debug for Addr<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Addr")
            .field("closed", &self.sender.is_closed())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn a_lease_comes_back_when_its_task_is_aborted() {
        let runtime = runtime();
        let (addr, slot) = Slot::<u32>::channel(4);
        let lease = Mailbox::lease(slot.clone());
        assert!(slot.take().is_none(), "leased");
        let task = runtime.spawn(async move {
            let mut lease = lease;
            lease.recv().await
        });
        task.abort();
        assert!(runtime.block_on(task).unwrap_err().is_cancelled());
        addr.try_send(7).unwrap();
        let mut next = Mailbox::lease(slot);
        assert_eq!(runtime.block_on(next.recv()), Some(7));
    }

    #[test]
    fn a_lease_comes_back_when_its_task_panics() {
        let runtime = runtime();
        let (addr, slot) = Slot::<u32>::channel(4);
        let lease = Mailbox::lease(slot.clone());
        let task = runtime.spawn(async move {
            let mut lease = lease;
            let first = lease.recv().await;
            panic!("took {first:?}");
        });
        addr.try_send(1).unwrap();
        addr.try_send(2).unwrap();
        assert!(runtime.block_on(task).unwrap_err().is_panic());
        // The message the panicking task took is gone; the next one waits.
        let mut next = Mailbox::lease(slot);
        assert_eq!(runtime.block_on(next.recv()), Some(2));
    }

    #[test]
    fn a_full_mailbox_counts_a_rejection_a_closed_one_does_not() {
        let (addr, slot) = Slot::<u32>::channel(1);
        addr.try_send(1).unwrap();
        assert!(matches!(addr.try_send(2), Err(TrySendError::Full(2))));
        assert_eq!(slot.read().rejected, 1);
        let figures = slot.figures.clone();
        drop(slot);
        assert!(matches!(addr.try_send(3), Err(TrySendError::Closed(3))));
        let runtime = runtime();
        assert!(runtime.block_on(addr.send(4)).is_err());
        let read = figures.read();
        assert_eq!((read.sent, read.rejected), (1, 1));
    }

    #[test]
    fn a_lease_counts_what_it_receives() {
        let runtime = runtime();
        let (addr, slot) = Slot::<u32>::channel(4);
        addr.try_send(1).unwrap();
        addr.try_send(2).unwrap();
        let mut lease = Mailbox::lease(slot.clone());
        assert_eq!(runtime.block_on(lease.recv()), Some(1));
        drop(lease);
        assert_eq!((slot.read().depth, slot.read().received), (1, 1));
        let mut next = Mailbox::lease(slot.clone());
        assert_eq!(runtime.block_on(next.recv()), Some(2));
        assert_eq!((slot.read().depth, slot.read().received), (0, 2));
    }

    #[test]
    fn recv_is_none_once_every_addr_is_gone() {
        let runtime = runtime();
        let (addr, slot) = Slot::<u32>::channel(1);
        let mut lease = Mailbox::lease(slot);
        drop(addr);
        assert_eq!(runtime.block_on(lease.recv()), None);
    }
}
