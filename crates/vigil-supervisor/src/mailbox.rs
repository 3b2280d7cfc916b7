//! Mailboxes that survive restarts: the receiver is leased to each incarnation and returned
//! when the incarnation ends, however it ends.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc::error::{SendError, TrySendError};
use tokio::sync::{mpsc, Notify};

/// Where a service's receiver waits between two incarnations.
pub(crate) struct Slot<M> {
    receiver: Mutex<Option<mpsc::Receiver<M>>>,
    returned: Notify,
}

impl<M> Slot<M> {
    /// A bounded channel of `capacity` whose receiver waits in the returned slot.
    pub(crate) fn channel(capacity: usize) -> (Addr<M>, Arc<Self>) {
        let (sender, receiver) = mpsc::channel(capacity);
        let slot = Arc::new(Self {
            receiver: Mutex::new(Some(receiver)),
            returned: Notify::new(),
        });
        (Addr { sender }, slot)
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
}

impl<M> Mailbox<M> {
    /// Takes the receiver from `slot`, or waits for it in `recv` if a previous lease (e.g.
    /// moved into a task of the previous incarnation) has not been dropped yet.
    pub(crate) fn lease(slot: Arc<Slot<M>>) -> Self {
        Self {
            receiver: slot.take(),
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
                return receiver.recv().await;
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
pub struct Addr<M> {
    sender: mpsc::Sender<M>,
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
        self.sender.send(message).await
    }

    /// Sends `message` if there is room now.
    ///
    /// # Errors
    ///
    /// Returns the message if the mailbox is full or gone.
    pub fn try_send(&self, message: M) -> Result<(), TrySendError<M>> {
        self.sender.try_send(message)
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
    fn recv_is_none_once_every_addr_is_gone() {
        let runtime = runtime();
        let (addr, slot) = Slot::<u32>::channel(1);
        let mut lease = Mailbox::lease(slot);
        drop(addr);
        assert_eq!(runtime.block_on(lease.recv()), None);
    }
}
