use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
};

use futures::{Sink, Stream};

/// A wrapper around `async_channel::unbounded` which removes the `TrySendError::Full` error.
pub(crate) fn channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let (tx, rx) = async_channel::unbounded();
    let unfinished = Arc::new(AtomicUsize::new(0));
    (
        UnboundedSender(tx, unfinished.clone()),
        UnboundedReceiver(rx, unfinished),
    )
}

/// sysops patch: the second field counts messages sent and not yet finished (see
/// `UnboundedReceiver::finished`).
pub(crate) struct UnboundedSender<T>(async_channel::Sender<T>, Arc<AtomicUsize>);

impl<T> UnboundedSender<T> {
    /// sysops patch: messages sent and not yet finished by the receiver: waiting in the
    /// channel, or taken and still being handled.
    pub(crate) fn unfinished(&self) -> usize {
        self.1.load(Ordering::SeqCst)
    }

    /// sysops patch: senders alive (the repository's own and every handle's).
    pub(crate) fn sender_count(&self) -> usize {
        self.0.sender_count()
    }

    /// sysops patch: closes the channel (the receiving actor loop ends).
    pub(crate) fn close(&self) {
        self.0.close();
    }

    pub(crate) fn unbounded_send(&self, msg: T) -> Result<(), T> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.try_send(msg).map_err(|e| {
            self.1.fetch_sub(1, Ordering::SeqCst);
            match e {
                async_channel::TrySendError::Full(_val) => {
                    unreachable!("this is an unbounded channel")
                }
                async_channel::TrySendError::Closed(val) => val,
            }
        })
    }
}

impl<T> Sink<T> for UnboundedSender<T> {
    type Error = ChanErr;

    fn poll_ready(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // It's an unbounded channel, so we're always ready to send
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
        self.unbounded_send(item).map_err(|_e| ChanErr)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.close();
        Poll::Ready(Ok(()))
    }
}

#[derive(Debug)]
pub struct ChanErr;
impl std::fmt::Display for ChanErr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Channel error")
    }
}
impl std::error::Error for ChanErr {}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone(), self.1.clone())
    }
}

pub(crate) struct UnboundedReceiver<T>(async_channel::Receiver<T>, Arc<AtomicUsize>);

impl<T> Unpin for UnboundedReceiver<T> {}

impl<T> UnboundedReceiver<T> {
    pub(crate) async fn recv(&self) -> Result<T, async_channel::RecvError> {
        self.0.recv().await
    }

    /// sysops patch: the receiver has finished with one message it took (only the
    /// document actors' runner says so; other channels' counts are never read).
    pub(crate) fn finished(&self) {
        self.1.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<T> Stream for UnboundedReceiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // SAFETY: We never move the inner receiver
        unsafe { self.map_unchecked_mut(|s| &mut s.0) }.poll_next(cx)
    }
}
